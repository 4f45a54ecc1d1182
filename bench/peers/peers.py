#!/usr/bin/python3
"""Measures the Python peers on the shared workloads and prints one JSON object.

    /usr/bin/python3 bench/peers/peers.py jupyter|process|bwrap WORKLOADS.json RUNS START_RUNS

Always run with Debian's /usr/bin/python3 (the one ipykernel and jupyter_client are installed
for), never a python found first on PATH. Timings are milliseconds of wall time; every sample
checks its answer, so a peer that computes the wrong thing fails instead of looking fast.
"""

import json
import os
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"

# The bubblewrap peer: a plain sandbox around a fresh interpreter, the recipe given in the
# issue (no cgroups, no uid drop), so it measures what the namespaces alone cost.
BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
         "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/etc/alternatives", "/etc/alternatives",
         "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache", "--ro-bind", "/etc/matplotlibrc", "/etc/matplotlibrc",
         "--tmpfs", "/tmp"]


def now():
    return time.perf_counter()


def memory_of(pid):
    """PSS and RSS in KiB, from /proc."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                out["pss_kib"] = int(line.split()[1])
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
    return out


# ---------------------------------------------------------------- jupyter

def jupyter(w, runs, start_runs):
    from jupyter_client.manager import start_new_kernel

    def run(kc, code):
        """Executes code; returns (reply, outputs) once the kernel is idle again."""
        outputs = []

        def hook(msg):
            if msg["msg_type"] in ("execute_result", "display_data", "stream", "error"):
                outputs.append(msg)

        reply = kc.execute_interactive(code, output_hook=hook, timeout=120, store_history=True)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code!r} failed: {reply['content']}")
        return outputs

    def result_text(outputs):
        for m in outputs:
            if m["msg_type"] == "execute_result":
                return m["content"]["data"]["text/plain"]
        return None

    def start():
        # The kernel spec's argv is /usr/bin/python3 -m ipykernel_launcher (Debian's).
        return start_new_kernel(kernel_name="python3", startup_timeout=120)

    res = {}
    w1 = []
    for _ in range(start_runs):
        t = now()
        km, kc = start()
        out = run(kc, w["W1_start"]["code"])
        w1.append((now() - t) * 1000)
        assert result_text(out) == w["W1_start"]["expect"], out
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    res["W1"] = w1

    km, kc = start()
    try:
        exe = os.readlink(f"/proc/{km.provisioner.process.pid}/exe")
        res["kernel_executable"] = exe
        for _ in range(5):
            run(kc, "1+1")
        w2 = []
        for _ in range(runs):
            t = now()
            out = run(kc, w["W2_trivial"]["code"])
            w2.append((now() - t) * 1000)
            assert result_text(out) == w["W2_trivial"]["expect"]
        res["W2"] = w2
        w3 = []
        for _ in range(runs):
            t = now()
            run(kc, w["W3_state"]["code_set"])
            out = run(kc, w["W3_state"]["code_get"])
            w3.append((now() - t) * 1000)
            assert result_text(out) == w["W3_state"]["expect"]
        res["W3"] = w3
        res["W4"] = warm_series(runs, lambda: check_text(result_text(run(kc, w["W4_pandas"]["code"])), w["W4_pandas"]["expect"]))
        res["W5"] = warm_series(runs, lambda: check_png(run(kc, w["W5_chart"]["code"]), w))
        res["W6"] = warm_series(runs, lambda: check_text(result_text(run(kc, w["W6_cpu"]["code"])), w["W6_cpu"]["expect"]))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    # W7: a fresh kernel, the imports, then idle.
    km, kc = start()
    try:
        run(kc, w["W7_memory"]["code"])
        time.sleep(w["W7_memory"]["idle_wait_s"])
        res["W7"] = memory_of(km.provisioner.process.pid)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return res


def warm_series(runs, once):
    """One untimed warm-up (imports, first-use costs), then the timed runs."""
    once()
    samples = []
    for _ in range(runs):
        t = now()
        once()
        samples.append((now() - t) * 1000)
    return samples


def check_text(actual, expected):
    assert actual == expected, (actual, expected)


def check_png(outputs, w):
    magic = bytes.fromhex(w["W5_chart"]["png_magic_hex"])
    import base64
    for m in outputs:
        if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"]:
            assert base64.b64decode(m["content"]["data"]["image/png"])[:8] == magic
            return
    raise AssertionError(f"no PNG in {[m['msg_type'] for m in outputs]}")


# ---------------------------------------------------------------- one-shot processes

def one_shot(prefix, w, runs, start_runs):
    def run(code):
        p = subprocess.run(prefix + [PYTHON, "-c", code], capture_output=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"exit {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
        return p.stdout

    def timed(n, code, check):
        samples = []
        for _ in range(n):
            t = now()
            out = run(code)
            samples.append((now() - t) * 1000)
            check(out)
        return samples

    def text(expected):
        return lambda out: check_text(out.decode().strip(), expected)

    magic = bytes.fromhex(w["W5_chart"]["png_magic_hex"])
    res = {
        "W1": timed(runs, w["W1_start"]["print_code"], text(w["W1_start"]["expect"])),
        # Cold by nature: every run imports numpy, pandas, matplotlib afresh.
        "W4": timed(start_runs, w["W4_pandas"]["print_code"], text(w["W4_pandas"]["expect"])),
        "W5": timed(start_runs, w["W5_chart"]["print_code"], lambda out: check_text(out[:8], magic)),
        "W6": timed(start_runs, w["W6_cpu"]["print_code"], text(w["W6_cpu"]["expect"])),
    }
    # No idle process to look at: the one-shot program's own peak RSS.
    res["W7"] = {"max_rss_kib": int(run(w["W7_memory"]["print_code"]).decode().strip())}
    return res


def main():
    peer, workloads, runs, start_runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(workloads) as f:
        w = json.load(f)
    if peer == "jupyter":
        res = jupyter(w, runs, start_runs)
    elif peer == "process":
        res = one_shot([], w, runs, start_runs)
    elif peer == "bwrap":
        res = one_shot(BWRAP, w, runs, start_runs)
    else:
        raise SystemExit(f"unknown peer {peer}")
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()

// Measures Pyodide in Node on W1, W2, W3, W6 and prints one JSON object.
//
//   node bench/peers/pyodide_peer.mjs WORKLOADS.json RUNS START_RUNS
//
// Only the workloads Pyodide can run offline: its npm package carries the interpreter and
// the standard library, not numpy, pandas or matplotlib (those are fetched from a CDN).
// W7 is the RSS/PSS of this Node process, idle after its first loadPyodide and `1+1`.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { loadPyodide } from "pyodide";

const [workloadsPath, runsArg, startRunsArg] = process.argv.slice(2);
const w = JSON.parse(readFileSync(workloadsPath, "utf8"));
const runs = Number(runsArg);
const startRuns = Number(startRunsArg);

function check(actual, expected) {
  if (String(actual) !== expected) throw new Error(`got ${actual}, expected ${expected}`);
}

function memory() {
  const kib = (file, key) => {
    const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(key));
    return Number(line.split(/\s+/)[1]);
  };
  return { pss_kib: kib("/proc/self/smaps_rollup", "Pss:"), rss_kib: kib("/proc/self/status", "VmRSS:") };
}

// The result of the last expression, as Python's repr (what text/plain would show).
const repr = (py, code) => py.runPython(`repr(eval(compile(${JSON.stringify(code)}, "<cell>", "eval")))`);

const res = { W1: [] };
let py = null;
for (let i = 0; i < startRuns; i++) {
  const t = performance.now();
  const fresh = await loadPyodide();
  const value = fresh.runPython(w.W1_start.code);
  res.W1.push(performance.now() - t);
  check(value, w.W1_start.expect);
  if (i === 0) {
    py = fresh;
    await new Promise((r) => setTimeout(r, w.W7_memory.idle_wait_s * 1000));
    res.W7 = memory();
  }
}

// W2/W3/W6 call the interpreter in-process: no channel at all, the floor for any service.
for (let i = 0; i < 5; i++) py.runPython("1+1");
res.W2 = [];
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  const value = py.runPython(w.W2_trivial.code);
  res.W2.push(performance.now() - t);
  check(value, w.W2_trivial.expect);
}
res.W3 = [];
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  py.runPython(w.W3_state.code_set);
  const value = py.runPython(w.W3_state.code_get);
  res.W3.push(performance.now() - t);
  check(value, w.W3_state.expect);
}
res.W6 = [];
repr(py, w.W6_cpu.code);
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  const value = repr(py, w.W6_cpu.code);
  res.W6.push(performance.now() - t);
  check(value, w.W6_cpu.expect);
}
res.version = py.version;
process.stdout.write(JSON.stringify(res));

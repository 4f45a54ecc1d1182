# Medians per configuration from results.txt (one line per batch of 50, written by floor).
import re, sys, statistics as st
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else "results.txt"):  # one line per batch
    if "FAILED" in line: continue
    m = dict(re.findall(r"(\w+)=(-?[\d.]+\w?)", line))
    m["foreign_rate"] = re.search(r"raw [-\d.]+, base (-?[\d.]+)", line).group(1)
    key = (line.split()[0] + ("" if m["H"] == "0" else " -H" + m["H"]), int(m["w"]))
    rows[key].append(m)
med = lambda xs: st.median(xs)
order = list(dict.fromkeys(k[0] for k in rows))
print(f"{'config':16} w runs wall_ms | per sandbox, ms CPU: tree  kthr  tree+kthr [p25-p75]  nontask  allin | busy_before load")
for key in sorted(rows, key=lambda k: (order.index(k[0]), k[1])):
    rs = rows[key]; n = float(rs[0]["n"])
    f = lambda k: [float(r[k]) / n for r in rs]
    q = st.quantiles(f("precise"), n=4)
    print(f"{key[0]:16} {key[1]} {len(rs):4} {med([float(r['wall_ms']) for r in rs]):7.1f} | {med(f('tree')):24.2f} {med(f('kthreads')):5.2f} {med(f('precise')):6.2f} [{q[0]:5.2f}-{q[2]:5.2f}] "
          f"{med(f('nontask')):7.2f} {med(f('allin')):6.2f} | {med([float(r['foreign_rate']) for r in rs]):6.0f} {med([float(r['load']) for r in rs]):5.2f}")

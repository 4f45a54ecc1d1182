using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Vivarium.Bench;

/// <summary>The comparison report → one text table of medians, p95 and ratios, and the targets of issue #9.</summary>
internal static class Table
{
    private static readonly string[] Systems = ["vivarium_http", "vivarium_engine", "jupyter", "process", "bwrap", "pyodide"];
    private static readonly string[] Headers = ["Vivarium HTTP", "Vivarium engine", "Jupyter kernel", "fresh python3", "python3 in bwrap", "Pyodide (Node)"];
    private static readonly string[] Peers = ["jupyter", "process", "bwrap", "pyodide"];

    private static readonly (string Key, string Label)[] Workloads =
    [
        ("W1", "W1 new session → `1+1`"),
        ("W2", "W2 `1+1`, started"),
        ("W3", "W3 x=41; x+1"),
        ("W4", "W4 pandas groupby, warm"),
        ("W5", "W5 chart → PNG, warm"),
        ("W6", "W6 sum of squares, 3M"),
    ];

    public static string Render(JsonObject report)
    {
        var systems = report["systems"]!.AsObject();
        var m = report["machine"]!;
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"Vivarium vs peers — {m["cores"]} cores, {m["memory_gib"]} GiB, Linux {m["kernel"]}, {m["os"]}; {m["cpu"]}"));
        sb.AppendLine(Inv($"load average at start {m["load_average_start"]}, at end {report["load_average_end"]}; {report["options"]!["runs"]} runs (W2/W3 ×3), {report["options"]!["start_runs"]} starts; ms, median / p95"));
        sb.AppendLine("load average when each was measured: " + string.Join(", ",
            Systems.Where(s => systems[s] is not null).Select(s => $"{s} {systems[s]!["load_average"]}")));
        sb.AppendLine();

        var rows = new List<string[]>();
        var header = new List<string> { "workload" };
        header.AddRange(Headers);
        header.AddRange(Peers.Select(p => "HTTP÷" + Short(p)));
        rows.Add([.. header]);
        foreach (var (key, label) in Workloads)
        {
            var row = new List<string> { label };
            row.AddRange(Systems.Select(s => Cell(systems[s]?[key])));
            row.AddRange(Peers.Select(p => Ratio(Median(systems["vivarium_http"]?[key]), Median(systems[p]?[key]))));
            rows.Add([.. row]);
        }
        var memoryRow = new List<string> { "W7 idle memory, MiB" };
        memoryRow.AddRange(Systems.Select(s => MemoryCell(systems[s]?["W7"])));
        memoryRow.AddRange(Peers.Select(p => Ratio(Pss(systems["vivarium_http"]?["W7"]), p == "process" || p == "bwrap" ? null : Pss(systems[p]?["W7"]))));
        rows.Add([.. memoryRow]);
        Render(sb, rows);

        var http = systems["vivarium_http"];
        var engine = systems["vivarium_engine"];
        sb.AppendLine();
        foreach (var (key, label) in new[] { ("burst_default_pool", "default pool"), ("burst_default_pool_again", "default pool, second burst on the same server"), ("burst_large_pool", "pool sized for the burst") })
        {
            if (http?[key] is JsonNode b)
            {
                sb.AppendLine(Inv($"burst of {b["n"]} concurrent POST /v1/sessions, {label} ({b["pool_size"]}): first {b["first_ms"]} ms, median {b["median_ms"]} ms, p95 {b["p95_ms"]} ms, max {b["max_ms"]} ms, {b["failures"]} failed, CPU {b["cpu_ms_per_create"]} ms per create (load {b["load_average"]})"));
                foreach (var reason in b["failure_reasons"]?.AsArray() ?? [])
                {
                    sb.AppendLine(Inv($"  failed {reason}"));
                }
            }
        }
        foreach (var (node, label) in new[] { (http?["throughput"], "HTTP"), (engine?["throughput"], "engine") })
        {
            if (node is not null)
            {
                sb.AppendLine(Inv($"throughput, {label}: {node["per_second"]} `1+1` executions/s across {node["sessions"]} sessions ({node["executions"]} in all; latency median {node["median_ms"]} ms, p95 {node["p95_ms"]} ms; load {node["load_average"]})"));
            }
        }

        sb.AppendLine();
        sb.AppendLine("targets (issue #9), ratios from this run:");
        var jupyter = systems["jupyter"];
        void Target(string name, double? value, double limit, bool atMost, string unit = "")
        {
            string verdict = value is null ? "n/a" : (atMost ? value <= limit : value >= limit) ? "MET" : "NOT MET";
            string shown = value is null ? "—" : value.Value.ToString(value < 0.1 ? "0.0000" : "0.000", CultureInfo.InvariantCulture) + unit;
            sb.AppendLine(Inv($"  {name,-58} {shown,12}  {(atMost ? "≤" : "≥")} {limit.ToString("0.###", CultureInfo.InvariantCulture)}{unit,-4} {verdict}"));
        }
        double? R(JsonNode? a, JsonNode? b) => Median(a) is double x && Median(b) is double y && y > 0 ? x / y : null;
        Target("W1 HTTP ÷ Jupyter kernel start", R(http?["W1"], jupyter?["W1"]), 1.0 / 50, true);
        Target("W2 HTTP ÷ Jupyter round trip", R(http?["W2"], jupyter?["W2"]), 1.0 / 4, true);
        Target("W2 engine ÷ Jupyter round trip", R(engine?["W2"], jupyter?["W2"]), 1.0 / 10, true);
        Target("W3 HTTP ÷ Jupyter", R(http?["W3"], jupyter?["W3"]), 1.0 / 4, true);
        Target("W5 HTTP ÷ Jupyter (chart as PNG in the response)", R(http?["W5"], jupyter?["W5"]), 0.8, true);
        Target("W4 speed: Jupyter time ÷ HTTP time", R(jupyter?["W4"], http?["W4"]), 0.95, false);
        Target("W6 speed: Jupyter time ÷ HTTP time", R(jupyter?["W6"], http?["W6"]), 0.95, false);
        Target("W7 PSS ÷ Jupyter kernel PSS", Pss(http?["W7"]) is double a && Pss(jupyter?["W7"]) is double j ? a / j : null, 0.5, true);
        foreach (var key in new[] { "burst_default_pool", "burst_large_pool" })
        {
            if (http?[key] is JsonNode b)
            {
                Target($"burst p95 ({key.Replace("burst_", "", StringComparison.Ordinal).Replace('_', ' ')}) ÷ Jupyter start",
                    Median(jupyter?["W1"]) is double js ? D(b["p95_ms"]!) / js : null, 0.1, true);
            }
        }
        if (http?["throughput"] is JsonNode t)
        {
            Target("throughput over HTTP, executions/s (aim)", D(t["per_second"]!), 1000, false, "/s");
        }
        foreach (var p in Peers)
        {
            if (systems[p]?["error"] is JsonNode error)
            {
                // The line naming the error (Node ends its report with its version, Python with the error).
                var lines = error.GetValue<string>().Split('\n').Where(l => l.Trim().Length > 0).ToList();
                sb.AppendLine($"peer {p} failed: {lines.LastOrDefault(l => l.Contains("Error", StringComparison.Ordinal)) ?? lines.LastOrDefault()}");
            }
        }
        return sb.ToString();
    }

    private static void Render(StringBuilder sb, List<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        for (int r = 0; r < rows.Count; r++)
        {
            sb.AppendLine("| " + string.Join(" | ", rows[r].Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))) + " |");
            if (r == 0)
            {
                sb.AppendLine("|" + string.Join("|", widths.Select((wd, c) => new string('-', wd + 1) + (c == 0 ? "-" : ":"))) + "|");
            }
        }
    }

    private static string Short(string peer) => peer switch
    {
        "jupyter" => "Jupyter",
        "process" => "process",
        "bwrap" => "bwrap",
        _ => "Pyodide",
    };

    private static double? Median(JsonNode? n) => n?["median_ms"] is JsonNode v ? D(v) : null;

    private static double? Pss(JsonNode? n) => n?["pss_kib"] is JsonNode v ? D(v) : null;

    // A number whether the node was parsed (JsonElement) or built in memory (long, double).
    private static double D(JsonNode n) => double.Parse(n.ToJsonString(), CultureInfo.InvariantCulture);

    private static string Cell(JsonNode? n) => n?["median_ms"] is null ? "—" : $"{Num(D(n["median_ms"]!))} / {Num(D(n["p95_ms"]!))}";

    private static string MemoryCell(JsonNode? n)
    {
        if (n is null)
        {
            return "—";
        }
        if (n["pss_kib"] is JsonNode pss)
        {
            return Inv($"PSS {D(pss) / 1024:0.0} (RSS {D(n["rss_kib"]!) / 1024:0})");
        }
        return n["max_rss_kib"] is JsonNode max ? Inv($"peak RSS {D(max) / 1024:0}") : "—";
    }

    private static string Ratio(double? a, double? b) => a is double x && b is double y && y > 0 ? (x / y).ToString(x / y < 0.1 ? "0.0000" : "0.000", CultureInfo.InvariantCulture) : "—";

    private static string Num(double v) => v.ToString(v < 10 ? "0.00" : v < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

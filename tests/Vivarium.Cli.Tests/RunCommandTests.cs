using System.Text;

namespace Vivarium.Cli.Tests;

public sealed class RunCommandTests
{
    private static readonly byte[] PngMagic = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    [Fact]
    public async Task Run_ScriptThatPrintsChartsAndWritesFiles_SavesThemNextToIt()
    {
        using var folder = new ScratchFolder();
        var input = folder.Write("prices.csv", "day,price\n1,10\n2,12\n3,15\n");
        var script = folder.Write("analysis.py", """
            import os
            import pandas as pd
            import matplotlib.pyplot as plt
            df = pd.read_csv("prices.csv")
            print(f"rows: {len(df)}, mean: {df.price.mean():.2f}")
            df.assign(double=df.price * 2).to_csv("doubled.csv", index=False)
            os.makedirs("report", exist_ok=True)
            with open("report/summary.txt", "w") as f:
                f.write("max 15\n")
            plt.plot(df.day, df.price)
            plt.show()
            df.price.max()
            """);

        var result = await Cli.InvokeAsync(["run", script, "--file", input]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("rows: 3, mean: 12.33", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("15", result.Stdout.Split('\n').Select(l => l.Trim()));   // the last expression's text/plain
        var png = await File.ReadAllBytesAsync(folder["analysis-1.png"]);
        Assert.Equal(PngMagic, png.Take(8));
        Assert.True(png.Length > 1000, $"a chart of {png.Length} bytes is too small to be real");
        Assert.Equal("day,price,double\n1,10,20\n2,12,24\n3,15,30\n", await File.ReadAllTextAsync(folder["doubled.csv"], Encoding.UTF8));
        Assert.Equal("max 15\n", await File.ReadAllTextAsync(folder["report_summary.txt"]));
        // The input went in untouched and, unchanged, is not written back.
        Assert.Equal("day,price\n1,10\n2,12\n3,15\n", await File.ReadAllTextAsync(input));
        Assert.Contains("analysis-1.png", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("doubled.csv", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_FailingScript_ExitsOneWithTheTracebackOnStderr()
    {
        using var folder = new ScratchFolder();
        var script = folder.Write("broken.py", """
            print("before the error")
            def lookup(row):
                return row["date"]
            lookup({})
            """);

        var result = await Cli.InvokeAsync(["run", script]);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("before the error", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Traceback", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("KeyError", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("lookup", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("KeyError", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ScriptPastItsTimeout_ExitsOneAndSaysSo()
    {
        using var folder = new ScratchFolder();
        var script = folder.Write("slow.py", "import time\nprint('started', flush=True)\ntime.sleep(60)\n");

        var result = await Cli.InvokeAsync(["run", script, "--timeout", "1"]);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("started", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("KeyboardInterrupt", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("ran out of time", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ScriptThatWritesOverItself_LeavesTheScriptAlone()
    {
        using var folder = new ScratchFolder();
        const string code = "open('self.py', 'w').write('overwritten')\nprint('done')\n";
        var script = folder.Write("self.py", code);

        var result = await Cli.InvokeAsync(["run", script]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(code, await File.ReadAllTextAsync(script));
        Assert.Contains("would overwrite the script", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_MissingScript_ExitsOneWithoutStartingAnything()
    {
        var result = await Cli.InvokeAsync(["run", "/tmp/vivarium-no-such-script.py"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no such file", result.Stderr, StringComparison.Ordinal);
    }
}

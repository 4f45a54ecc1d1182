using System.Text.Json;
using Vivarium.Engine.Executions;

namespace Vivarium.Engine.Tests;

/// <summary>What a cell produces: values, rich outputs, errors, output streams. Each test has its own session, so none depends on another.</summary>
[Collection("Engine")]
public sealed class ExecutionTests(EngineFixture engine)
{
    private static readonly byte[] PngMagic = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

    [Fact]
    public async Task Execute_VariableDefinedEarlier_IsStillThere()
    {
        await using var lease = await engine.NewSessionAsync();

        var first = await lease.RunAsync("x = 41");
        var second = await lease.RunAsync("x + 1");

        Assert.Equal(ExecutionStatus.Ok, first.Status);
        Assert.Null(first.Result);
        Assert.Equal(1, first.ExecutionCount);
        Assert.Equal(ExecutionStatus.Ok, second.Status);
        Assert.Equal("42", second.Result!["text/plain"].GetString());
        Assert.Equal(2, second.ExecutionCount);
        Assert.Equal(2, lease.Session.ExecutionCount);
    }

    [Fact]
    public async Task Execute_FirstCellOfAFreshSession_SeesNoEarlierResults()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("(_, Out, In[1:])");

        Assert.Equal(1, execution.ExecutionCount);
        Assert.Equal("('', {}, ['(_, Out, In[1:])'])", execution.Result!["text/plain"].GetString());
        var next = await lease.RunAsync("sorted(Out)");
        Assert.Equal("[1]", next.Result!["text/plain"].GetString());
    }

    [Theory]
    [InlineData("1 + 1", "2")]
    [InlineData("x = 3; x", "3")]
    [InlineData("2  # a comment; not code", "2")]
    [InlineData("'a;b'", "'a;b'")]
    [InlineData("1 + 1;", null)]
    [InlineData("4; # a trailing semicolon, then a comment", null)]
    public async Task Execute_TrailingSemicolon_SilencesTheValueAsInJupyter(string code, string? shown)
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync(code);

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal(shown, execution.Result?["text/plain"].GetString());
    }

    [Fact]
    public async Task Execute_ModuleImportedEarlier_IsStillImported()
    {
        await using var lease = await engine.NewSessionAsync();

        await lease.RunOkAsync("import json as j\nfrom fractions import Fraction");
        var execution = await lease.RunAsync("j.dumps({'half': str(Fraction(1, 2))})");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal("'{\"half\": \"1/2\"}'", execution.Result!["text/plain"].GetString());
    }

    [Theory]
    [InlineData("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()")]
    [InlineData("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.bar(['a', 'b'], [3, 5])\nNone")]
    public async Task Execute_MatplotlibFigure_ComesBackAsPng(string code)
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync(code);

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        var display = Assert.Single(execution.Outputs.OfType<DisplayDataOutput>());
        var png = Convert.FromBase64String(display.Data["image/png"].GetString()!);
        Assert.Equal(PngMagic, png[..8]);
        Assert.True(png.Length > 1000, $"a PNG of {png.Length} bytes is too small to be a chart");
        Assert.Contains("[displayed image/png ", execution.Summary);

        // The figure was closed after it was shown: the next cell must not show it again.
        var next = await lease.RunAsync("1");
        Assert.Empty(next.Outputs.OfType<DisplayDataOutput>());
    }

    [Theory]
    [InlineData("fig, ax = plt.subplots()\nax.plot([1, 3, 2])\nax.set_title('title')\nax.set_xlabel('x')")]
    [InlineData("fig, ax = plt.subplots(figsize=(3, 2), dpi=150)\nax.bar(['a', 'b'], [3, 5])")]
    [InlineData("fig, axes = plt.subplots(2, 2)\nfig.suptitle('four')\nfor a in axes.flat: a.plot([0, 1])")]
    [InlineData("import numpy as np\nfig, ax = plt.subplots()\nfig.colorbar(ax.imshow(np.arange(100).reshape(10, 10)))")]
    [InlineData("fig, ax = plt.subplots()\nfig.patch.set_facecolor('#ffeedd')\nax.plot([1, 2])\nax.set_ylabel('y')")]
    public async Task Execute_FigureShownInline_IsCroppedAsJupytersTightBoundingBoxWould(string figure)
    {
        await using var lease = await engine.NewSessionAsync();

        // The runner draws once and crops to the drawn pixels instead of asking matplotlib for a
        // "tight" bounding box; the picture must keep the size Jupyter's would have, give or take
        // the blank margin of a text's line height.
        var execution = await lease.RunAsync(
            "import base64, io\nimport matplotlib.pyplot as plt\nfrom PIL import Image\n"
            + "from IPython.core.pylabtools import print_figure\n"
            + figure + "\n"
            + "ours = Image.open(io.BytesIO(base64.b64decode(get_ipython().display_formatter.formatters['image/png'](fig))))\n"
            + "jupyters = Image.open(io.BytesIO(print_figure(fig, 'png', bbox_inches='tight')))\n"
            + "plt.close(fig)\n"
            + "ours.size, jupyters.size");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        var sizes = execution.Result!["text/plain"].GetString()!;
        var numbers = sizes.Split(['(', ')', ',', ' '], StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        Assert.True(Math.Abs(numbers[0] - numbers[2]) <= 6 && Math.Abs(numbers[1] - numbers[3]) <= 6,
            $"(ours, Jupyter's) sizes {sizes} differ by more than a few pixels");
    }

    [Fact]
    public async Task Execute_FigureReachingPastItsCanvas_IsWidenedToShowItAsJupyterDoes()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync(
            "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)\nax.plot([1, 2], label='a line with a long label')\n"
            + "fig.legend(loc='center left', bbox_to_anchor=(0.95, 0.5))\nplt.show()");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        var png = Convert.FromBase64String(Assert.Single(execution.Outputs.OfType<DisplayDataOutput>()).Data["image/png"].GetString()!);
        var width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4));
        Assert.True(width > 640, $"the legend drawn past the 640-pixel canvas was cut off: the PNG is {width} pixels wide");
    }

    [Fact]
    public async Task Execute_CellsThatReconfigureTheInlineBackend_StillGetTheirFigures()
    {
        await using var lease = await engine.NewSessionAsync();

        var magic = await lease.RunAsync("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()");
        var svg = await lease.RunAsync("%config InlineBackend.figure_formats = ['svg']\nplt.plot([2, 1])\nplt.show()");

        var png = Convert.FromBase64String(Assert.Single(magic.Outputs.OfType<DisplayDataOutput>()).Data["image/png"].GetString()!);
        Assert.Equal(PngMagic, png[..8]);
        var display = Assert.Single(svg.Outputs.OfType<DisplayDataOutput>());
        Assert.Contains("<svg", display.Data["image/svg+xml"].GetString());
        Assert.False(display.Data.ContainsKey("image/png"));
    }

    [Fact]
    public async Task Execute_DataFrameAsLastExpression_ReturnsHtmlTable()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': [3, 19]})");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        var html = execution.Result!["text/html"].GetString()!;
        Assert.Contains("<table", html);
        Assert.Contains("Lima", html);
        Assert.Contains("Oslo", execution.Result["text/plain"].GetString());
        Assert.Contains("HTML table", execution.Summary);
    }

    [Fact]
    public async Task Execute_DivisionByZero_ReportsErrorWithUserFrame()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("def ratio(a, b):\n    return a / b\n\nratio(1, 0)");

        Assert.Equal(ExecutionStatus.Error, execution.Status);
        Assert.Equal("ZeroDivisionError", execution.Error!.Name);
        Assert.Equal("division by zero", execution.Error.Value);
        Assert.Contains("return a / b", execution.Error.Traceback);
        Assert.DoesNotContain("\x1b[", execution.Error.Traceback, StringComparison.Ordinal);
        Assert.StartsWith("Error: ZeroDivisionError: division by zero", execution.Summary);
        Assert.Contains("in ratio", execution.Summary);
        Assert.Contains("return a / b", execution.Summary);
        Assert.DoesNotContain("\x1b[", execution.Summary, StringComparison.Ordinal);
        var output = Assert.Single(execution.Outputs.OfType<ErrorOutput>());
        Assert.Equal("ZeroDivisionError", output.Name);
    }

    [Fact]
    public async Task Execute_MissingKey_ReportsKeyError()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("row = {'name': 'x'}\nrow['date']");

        Assert.Equal(ExecutionStatus.Error, execution.Status);
        Assert.Equal("KeyError", execution.Error!.Name);
        Assert.Equal("'date'", execution.Error.Value);
        Assert.Contains("row['date']", execution.Error.Traceback);
        Assert.DoesNotContain("\x1b[", execution.Error.Traceback, StringComparison.Ordinal);
        Assert.StartsWith("Error: KeyError: 'date'", execution.Summary);
        Assert.Contains("Cell In[1], line 2", execution.Summary);
    }

    [Fact]
    public async Task Execute_SyntaxError_ShowsLineAndCaret()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("x = 1\nif x = 2:\n    pass");

        Assert.Equal(ExecutionStatus.Error, execution.Status);
        Assert.Equal("SyntaxError", execution.Error!.Name);
        Assert.Contains("if x = 2:", execution.Error.Traceback);
        Assert.Contains("^", execution.Error.Traceback);
        Assert.DoesNotContain("\x1b[", execution.Error.Traceback, StringComparison.Ordinal);
        Assert.StartsWith("Error: SyntaxError", execution.Summary);
        Assert.Contains("if x = 2:", execution.Summary);

        // Nothing of the broken cell ran, and the session goes on.
        var next = await lease.RunAsync("'x' in dir()");
        Assert.Equal("False", next.Result!["text/plain"].GetString());
    }

    [Fact]
    public async Task Execute_PrintAndShellCommand_InterleaveInOrder()
    {
        await using var lease = await engine.NewSessionAsync();

        var stdout = await lease.RunOkAsync("import os, sys\nprint('one')\nos.system('echo two')\nprint('three')\nsys.stdout.write('four\\n')\nos.system('echo five >&2')");

        Assert.Equal("one\ntwo\nthree\nfour\n", stdout);
    }

    [Fact]
    public async Task Execute_StderrFromChildProcess_IsCaptured()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo oops >&2'])\nNone");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal("oops\n", execution.Stderr);
        Assert.Contains(execution.Outputs.OfType<StreamOutput>(), o => o.Name == "stderr" && o.Text.Contains("oops"));
    }

    [Fact]
    public async Task Execute_FiveMegabytePrint_KeepsHeadAndTailWithNote()
    {
        await using var lease = await engine.NewSessionAsync();
        var started = System.Diagnostics.Stopwatch.StartNew();

        var execution = await lease.RunAsync("print('HEAD' + 'x' * 5_000_000 + 'TAIL')");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"5 MB of output took {started.Elapsed}");
        Assert.True(execution.StdoutTruncated);
        Assert.StartsWith("HEADxxx", execution.Stdout);
        Assert.EndsWith("xxxTAIL\n", execution.Stdout);
        Assert.Contains("characters omitted", execution.Stdout);
        Assert.True(execution.Stdout.Length < 130_000, $"stdout kept {execution.Stdout.Length} characters");
        // The outputs say the same as stdout: head, then the tail with its note.
        var streamed = string.Concat(execution.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text));
        Assert.Equal(execution.Stdout, streamed);
        Assert.True(execution.Summary.Length <= 4000);
    }

    [Fact]
    public async Task Execute_OutputFloodPastTheSandboxBudget_EndsWithTheRealTailAndANote()
    {
        await using var lease = await engine.NewSessionAsync();

        // 64 MB through fd 1, past the runner's 8 MiB budget: the channel carries only the
        // budget and a kept tail, and the code still finishes.
        var execution = await lease.RunAsync("import os\nchunk = b'y' * 65536\nfor _ in range(1024): os.write(1, chunk)\nprint('THE END')");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.True(execution.StdoutTruncated);
        Assert.StartsWith("yyyy", execution.Stdout);
        Assert.EndsWith("THE END\n", execution.Stdout);
        Assert.Contains("bytes of stdout not sent", execution.Stdout);
        Assert.True(execution.Stdout.Length < 130_000);
    }

    [Fact]
    public async Task Execute_InvalidUtf8OnFd1_IsReplacedNotFatal()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("import os\nos.write(1, b'\\xff\\xfe ok\\n')\nos.write(1, b'split \\xc3')\nos.write(1, b'\\xa9 done\\n')\n40 + 2");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal("\uFFFD\uFFFD ok\nsplit \u00e9 done\n", execution.Stdout);
        Assert.Equal("42", execution.Result!["text/plain"].GetString());
    }

    [Fact]
    public async Task Execute_DisplayOfSeveralObjects_KeepsOrder()
    {
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("from IPython.display import display, HTML\nprint('before')\ndisplay(HTML('<b>bold</b>'))\nprint('after')\n7");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Collection(execution.Outputs,
            o => Assert.Equal("before\n", Assert.IsType<StreamOutput>(o).Text),
            o => Assert.Equal("<b>bold</b>", Assert.IsType<DisplayDataOutput>(o).Data["text/html"].GetString()),
            o => Assert.Equal("after\n", Assert.IsType<StreamOutput>(o).Text),
            o => Assert.Equal(JsonValueKind.String, Assert.IsType<ExecuteResultOutput>(o).Data["text/plain"].ValueKind));
    }

    [Fact]
    public async Task Execute_ValuesFollowedByOtherOutput_KeepTheirPlace()
    {
        // The runner holds a value back to send it in one write with the message after it;
        // that must never reorder them, whoever sends next (the output thread, a figure).
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("import sys, matplotlib.pyplot as plt\nsys.displayhook('early')\nprint('after')\nplt.plot([1, 2])\n'last'");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Collection(execution.Outputs,
            o => Assert.Equal("'early'", Assert.IsType<ExecuteResultOutput>(o).Data["text/plain"].GetString()),
            o => Assert.Equal("after\n", Assert.IsType<StreamOutput>(o).Text),
            o => Assert.Equal("'last'", Assert.IsType<ExecuteResultOutput>(o).Data["text/plain"].GetString()),
            o => Assert.True(Assert.IsType<DisplayDataOutput>(o).Data.ContainsKey("image/png")));
    }
}

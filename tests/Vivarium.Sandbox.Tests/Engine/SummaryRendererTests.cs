using System.Buffers.Binary;
using System.Text.Json;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Output;

namespace Vivarium.Sandbox.Tests.Engine;

public sealed class SummaryRendererTests
{
    private static string PngBase64(int width, int height, int extraBytes = 64)
    {
        var png = new byte[8 + 25 + extraBytes];
        new byte[] { 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a }.CopyTo(png, 0);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(8), 13);
        "IHDR"u8.CopyTo(png.AsSpan(12));
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        return Convert.ToBase64String(png);
    }

    [Theory]
    [InlineData(640, 480)]
    [InlineData(1, 1)]
    [InlineData(4000, 3000)]
    public void PngSize_ValidHeader_ReadsWidthAndHeight(int width, int height)
    {
        Assert.Equal((width, height), SummaryRenderer.PngSize(PngBase64(width, height)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("iVBORw0KGgo=")]
    [InlineData("this is not base64 at all, not even close!!")]
    public void PngSize_TooShortOrNotBase64_ReturnsNull(string base64)
    {
        Assert.Null(SummaryRenderer.PngSize(base64));
    }

    [Fact]
    public void Render_DisplayedPng_IsDescribedNotInlined()
    {
        var png = PngBase64(640, 480, extraBytes: 3000);
        using var data = JsonDocument.Parse(JsonSerializer.Serialize(new { image_png = png }));
        var bundle = new Dictionary<string, JsonElement> { ["image/png"] = data.RootElement.GetProperty("image_png").Clone() };
        var execution = Execution(ExecutionStatus.Ok) with { Outputs = [new DisplayDataOutput(bundle, null)] };

        var summary = SummaryRenderer.Render(execution, new SummaryFacts(null, 0, TimeSpan.FromSeconds(30)), 4000);

        Assert.Equal("[displayed image/png 640x480]", summary);
    }

    [Fact]
    public void Render_Error_PutsTheErrorFirstWithTheUsersFrames()
    {
        var execution = Execution(ExecutionStatus.Error) with
        {
            Stdout = "some output\n",
            Error = new ExecutionError("KeyError", "'date'", "long IPython traceback"),
        };

        var summary = SummaryRenderer.Render(execution, new SummaryFacts("  Cell In[3], line 2, in <module>\n    row['date']\nKeyError: 'date'", 0, TimeSpan.FromSeconds(30)), 4000);

        Assert.StartsWith("Error: KeyError: 'date'\nTraceback (your code):\n  Cell In[3], line 2", summary);
        Assert.Contains("Output:\nsome output", summary);
        Assert.DoesNotContain("long IPython traceback", summary);
    }

    [Fact]
    public void Render_HugeOutput_StaysWithinBudget()
    {
        var execution = Execution(ExecutionStatus.Ok) with { Stdout = new string('o', 50_000), Stderr = new string('e', 50_000) };

        var summary = SummaryRenderer.Render(execution, new SummaryFacts(null, 0, TimeSpan.FromSeconds(30)), 1000);

        Assert.True(summary.Length <= 1000, $"{summary.Length} characters");
        Assert.Contains("Output:", summary);
        Assert.Contains("Stderr:", summary);
    }

    private static Execution Execution(ExecutionStatus status) => new()
    {
        Id = "exe_1",
        SessionId = "ses_1",
        Status = status,
        Stdout = "",
        Stderr = "",
        Outputs = [],
        Files = [],
        Summary = "",
    };
}

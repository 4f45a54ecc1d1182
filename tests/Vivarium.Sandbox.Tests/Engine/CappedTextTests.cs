using Vivarium.Engine.Output;

namespace Vivarium.Sandbox.Tests.Engine;

public sealed class CappedTextTests
{
    [Fact]
    public void Append_UnderTheCap_KeepsEverythingAndStreamsIt()
    {
        var text = new CappedText(headChars: 10, tailChars: 5);

        Assert.Equal("hello", text.Append("hello"));
        Assert.Equal("world", text.Append("world"));

        Assert.False(text.Truncated);
        Assert.Equal("helloworld", text.ToString());
        Assert.Equal("", text.TailWithNote());
    }

    [Fact]
    public void Append_OverTheCap_KeepsHeadAndTailAndNotesTheGap()
    {
        var text = new CappedText(headChars: 10, tailChars: 5);

        var streamed = text.Append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");

        Assert.Equal("0123456789", streamed);
        Assert.True(text.Truncated);
        Assert.Equal(36, text.TotalChars);
        Assert.Equal("0123456789\n[… 21 characters omitted …]\nVWXYZ", text.ToString());
    }

    [Fact]
    public void Append_ManySmallChunksPastTheHead_StreamsNothingMoreAndKeepsTheLatestTail()
    {
        var text = new CappedText(headChars: 4, tailChars: 3);
        text.Append("head");

        var streamed = Enumerable.Range(0, 1000).Select(i => text.Append((i % 10).ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();

        Assert.All(streamed, s => Assert.Equal("", s));
        Assert.Equal("head\n[… 997 characters omitted …]\n789", text.ToString());
    }

    [Fact]
    public void Append_JustPastTheHead_TailWithoutOmissionHasNoNote()
    {
        var text = new CappedText(headChars: 4, tailChars: 10);

        text.Append("headtail");

        Assert.False(text.Truncated);
        Assert.Equal("headtail", text.ToString());
        Assert.Equal("tail", text.TailWithNote());
    }

    [Fact]
    public void Shorten_OverBudget_KeepsBothEndsWithinBudget()
    {
        var input = "BEGIN" + new string('.', 10_000) + "END";

        var shortened = CappedText.Shorten(input, 200);

        Assert.True(shortened.Length <= 200, $"{shortened.Length} characters");
        Assert.StartsWith("BEGIN", shortened);
        Assert.EndsWith("END", shortened);
        Assert.Contains("characters omitted", shortened);
        Assert.Equal("short", CappedText.Shorten("short", 200));
    }
}

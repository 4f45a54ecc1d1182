using System.Text;

namespace Vivarium.Engine.Output;

/// <summary>
/// Text that keeps its head and its tail and elides the middle, so a flood of output costs
/// bounded memory and the reader still sees how it started and how it ended.
/// </summary>
public sealed class CappedText(int headChars, int tailChars)
{
    private readonly StringBuilder _head = new();
    private readonly StringBuilder _tail = new();

    /// <summary>Characters received in all.</summary>
    public long TotalChars { get; private set; }

    /// <summary>True once anything had to be elided.</summary>
    public bool Truncated => TotalChars > _head.Length + Math.Min(_tail.Length, tailChars);

    /// <summary>Adds text; returns the part that went into the head (what may be streamed live).</summary>
    public string Append(string text)
    {
        TotalChars += text.Length;
        int room = headChars - _head.Length;
        if (room >= text.Length && _tail.Length == 0)
        {
            _head.Append(text);
            return text;
        }
        string kept = "";
        if (room > 0 && _tail.Length == 0)
        {
            kept = text[..room];
            _head.Append(kept);
            text = text[room..];
        }
        _tail.Append(text);
        if (_tail.Length > tailChars * 2)
        {
            _tail.Remove(0, _tail.Length - tailChars);
        }
        return kept;
    }

    /// <summary>The text that did not go into the head, with the elision note; empty if nothing was elided or tailed.</summary>
    public string TailWithNote()
    {
        if (_tail.Length == 0)
        {
            return "";
        }
        var tail = _tail.Length > tailChars ? _tail.ToString(_tail.Length - tailChars, tailChars) : _tail.ToString();
        long omitted = TotalChars - _head.Length - tail.Length;
        return omitted > 0 ? $"\n[… {omitted:N0} characters omitted …]\n{tail}" : tail;
    }

    /// <summary>Head, note and tail.</summary>
    public override string ToString() => _head + TailWithNote();

    /// <summary>Keeps the first and last parts of <paramref name="text"/> within <paramref name="budget"/> characters.</summary>
    public static string Shorten(string text, int budget)
    {
        if (text.Length <= budget)
        {
            return text;
        }
        if (budget < 40)
        {
            return text[..Math.Max(0, budget)];
        }
        const string Marker = "\n[… {0:N0} characters omitted …]\n";
        int keep = budget - 40;
        int head = keep * 2 / 3;
        int tail = keep - head;
        return text[..head] + string.Format(System.Globalization.CultureInfo.InvariantCulture, Marker, text.Length - head - tail) + text[^tail..];
    }
}

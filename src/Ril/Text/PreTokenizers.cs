using System.Text.RegularExpressions;

namespace Ril.Text;

/// <summary>A piece of the text being encoded: BPE never merges across pieces.</summary>
public readonly record struct TextRange(int Start, int Length)
{
    public int End => Start + Length;
}

/// <summary>What a split keeps of the text its pattern matches (Hugging Face's SplitDelimiterBehavior).</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// One step of a tokenizer.json "pre_tokenizer": splits each piece into smaller pieces. The ByteLevel
/// step is not one of these: it changes how pieces are turned into symbols, and BpeTokenizer handles it.
/// </summary>
public abstract class PreTokenizer
{
    /// <summary>Splits each of <paramref name="pieces"/> (ranges of <paramref name="text"/>) and appends the results.</summary>
    public abstract void Split(string text, List<TextRange> pieces, List<TextRange> output);

    /// <summary>GPT-2's pattern, which ByteLevel applies when its use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
}

/// <summary>Split by a regex (or a literal string), keeping matches as the behaviour says.</summary>
public sealed class RegexSplit(CodePointRegex regex, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public CodePointRegex Regex => regex;
    public SplitBehavior Behavior => behavior;
    public bool Invert => invert;

    [ThreadStatic] static List<(int Start, int Length)>? matchBuffer;
    [ThreadStatic] static List<(int Start, int End, bool IsMatch)>? partBuffer;

    public override void Split(string text, List<TextRange> pieces, List<TextRange> output)
    {
        var matches = matchBuffer ??= new();
        var parts = partBuffer ??= new();
        foreach (var piece in pieces)
        {
            matches.Clear();
            regex.Matches(text.AsSpan(piece.Start, piece.Length), matches);
            // The piece as alternating gaps and matches (absolute positions), then the behaviour.
            parts.Clear();
            int at = piece.Start;
            foreach (var (start, length) in matches)
            {
                int s = piece.Start + start;
                if (s > at) parts.Add((at, s, invert));
                parts.Add((s, s + length, !invert));
                at = s + length;
            }
            if (at < piece.End) parts.Add((at, piece.End, invert));
            Emit(parts, output);
        }
    }

    void Emit(List<(int Start, int End, bool IsMatch)> parts, List<TextRange> output)
    {
        int first = output.Count;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var p in parts) if (!p.IsMatch) output.Add(new(p.Start, p.End - p.Start));
                break;
            case SplitBehavior.Isolated:
                foreach (var p in parts) output.Add(new(p.Start, p.End - p.Start));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                // A match joins the piece before it, unless that piece is itself a match.
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && !previousMatch && output.Count > first)
                        output[^1] = new(output[^1].Start, p.End - output[^1].Start);
                    else output.Add(new(p.Start, p.End - p.Start));
                    previousMatch = p.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previousMatch = false;
                var reversed = new List<TextRange>();
                for (int i = parts.Count - 1; i >= 0; i--)
                {
                    var p = parts[i];
                    if (p.IsMatch && !previousMatch && reversed.Count > 0)
                        reversed[^1] = new(p.Start, reversed[^1].End - p.Start);
                    else reversed.Add(new(p.Start, p.End - p.Start));
                    previousMatch = p.IsMatch;
                }
                for (int i = reversed.Count - 1; i >= 0; i--) output.Add(reversed[i]);
                break;
            }
            case SplitBehavior.Contiguous:
            {
                // Adjacent matches become one piece.
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && previousMatch && output.Count > first)
                        output[^1] = new(output[^1].Start, p.End - output[^1].Start);
                    else output.Add(new(p.Start, p.End - p.Start));
                    previousMatch = p.IsMatch;
                }
                break;
            }
        }
    }
}

/// <summary>Digits apart from other text: each digit alone, or each run of digits.</summary>
public sealed class DigitsSplit(bool individualDigits) : PreTokenizer
{
    public override void Split(string text, List<TextRange> pieces, List<TextRange> output)
    {
        foreach (var piece in pieces)
        {
            int runStart = piece.Start;
            bool runIsDigits = false;
            for (int i = piece.Start; i < piece.End; i++)
            {
                bool digit = char.IsNumber(text, i);
                int width = char.IsSurrogatePair(text, i) ? 2 : 1;
                if (i > runStart && (digit != runIsDigits || (digit && individualDigits)))
                {
                    output.Add(new(runStart, i - runStart));
                    runStart = i;
                }
                runIsDigits = digit;
                i += width - 1;
            }
            if (piece.End > runStart) output.Add(new(runStart, piece.End - runStart));
        }
    }
}

/// <summary>The ByteLevel pre-tokenizer's settings (see <see cref="ByteLevel"/>).</summary>
public sealed record ByteLevelSettings(bool AddPrefixSpace, bool UseRegex);

static class PreTokenizerJson
{
    /// <summary>Reads a pre_tokenizer into split steps and the ByteLevel step, which must come last.</summary>
    public static (List<PreTokenizer> Steps, ByteLevelSettings? ByteLevel) Read(JsonField field)
    {
        var steps = new List<PreTokenizer>();
        ByteLevelSettings? byteLevel = null;
        if (!field.IsNull) Add(field, steps, ref byteLevel);
        return (steps, byteLevel);
    }

    static void Add(JsonField field, List<PreTokenizer> steps, ref ByteLevelSettings? byteLevel)
    {
        var type = field["type"].String();
        if (byteLevel != null)
            throw field.Error($"'{type}' comes after ByteLevel; only a ByteLevel last in the sequence is supported");
        switch (type)
        {
            case "Sequence":
                foreach (var item in field["pretokenizers"].Items()) Add(item, steps, ref byteLevel);
                break;
            case "ByteLevel":
                byteLevel = new ByteLevelSettings(field.OptionalBool("add_prefix_space", true), field.OptionalBool("use_regex", true));
                break;
            case "Split":
            {
                var pattern = field["pattern"];
                string regex = pattern.TryGet("Regex", out var r) ? r.String()
                    : pattern.TryGet("String", out var s) ? Regex.Escape(s.String())
                    : throw pattern.Error("expected {\"Regex\": ...} or {\"String\": ...}");
                var behaviorField = field["behavior"];
                if (!Enum.TryParse<SplitBehavior>(behaviorField.String(), ignoreCase: false, out var behavior))
                    throw behaviorField.Error($"unknown behavior '{behaviorField.String()}' (expected one of {string.Join(", ", Enum.GetNames<SplitBehavior>())})");
                steps.Add(new RegexSplit(Compile(pattern, regex), behavior, field.OptionalBool("invert", false)));
                break;
            }
            case "Digits":
                steps.Add(new DigitsSplit(field.OptionalBool("individual_digits", false)));
                break;
            case "Whitespace":
                steps.Add(new RegexSplit(new CodePointRegex(@"\w+|[^\w\s]+"), SplitBehavior.Removed, invert: true));
                break;
            case "WhitespaceSplit":
                steps.Add(new RegexSplit(new CodePointRegex(@"\s+"), SplitBehavior.Removed, invert: false));
                break;
            default:
                throw field["type"].Error($"pre-tokenizer '{type}' is not supported (supported: Sequence, Split, ByteLevel, Digits, Whitespace, WhitespaceSplit)");
        }
    }

    static CodePointRegex Compile(JsonField field, string pattern)
    {
        try { return new CodePointRegex(pattern); }
        catch (ArgumentException e) { throw field.Error($"the regex does not compile in .NET: {e.Message}"); }
    }
}

using System.Text.RegularExpressions;

namespace Ril.Rewards;

/// <summary>Where a final answer was found in a response.</summary>
public enum AnswerSource
{
    /// <summary>The last <c>\boxed{…}</c> or <c>\fbox{…}</c> (MAYE's prompt asks for this).</summary>
    Boxed,
    /// <summary>The last <c>&lt;answer&gt;…&lt;/answer&gt;</c> block.</summary>
    AnswerTag,
    /// <summary>A phrase such as "the answer is …" or "Final answer: …" (a fallback for responses that box nothing).</summary>
    AnswerPhrase,
}

/// <summary>A response's final answer and where it came from.</summary>
public sealed record ExtractedAnswer(string Text, AnswerSource Source);

/// <summary>
/// Finds the final answer of a free-text solution: the last <c>\boxed{}</c> (nested braces counted,
/// <c>\fbox</c> too), else the last <c>&lt;answer&gt;</c> block, else an "the answer is …" phrase.
/// When both a box and an answer block exist, the one that ends later wins (the model's last word).
/// </summary>
public static class AnswerExtraction
{
    static readonly string[] BoxCommands = ["\\boxed", "\\fbox"];

    /// <summary>The final answer, or null when the response states none (or its last box is cut off).</summary>
    public static ExtractedAnswer? Extract(string response)
    {
        var boxed = LastBoxedSpan(response);
        var tagged = LastAnswerTagSpan(response);
        if (boxed is { } b && (tagged is not { } t0 || b.End >= t0.End)) return new(Clean(b.Content!), AnswerSource.Boxed);
        if (tagged is { } t)
        {
            // An answer block that itself boxes its answer: the box is the answer.
            var inner = LastBoxedSpan(t.Content!);
            return new(Clean(inner?.Content ?? t.Content!), AnswerSource.AnswerTag);
        }
        return AnswerPhrase(response) is { } phrase ? new(phrase, AnswerSource.AnswerPhrase) : null;
    }

    /// <summary>
    /// What the answer reward compares against the ground truth, best first: the final answer, then —
    /// when the response boxes several things — all boxes joined with commas. The second is MAYE's data
    /// convention: a question with several answers ("write down the coordinates of M") has them boxed one by
    /// one and its <c>answer</c> field joins them (mm_math rows such as "(-1, -4),(-1, -16),(-1, 0)").
    /// </summary>
    public static IEnumerable<string> FinalAnswerCandidates(string response)
    {
        var final = Extract(response);
        if (final != null) yield return final.Text;
        var boxes = AllBoxed(response);
        if (boxes.Count > 1) yield return string.Join(",", boxes);
    }

    /// <summary>The content of the last complete <c>\boxed{…}</c> / <c>\fbox{…}</c>, or null.</summary>
    public static string? LastBoxed(string text) => LastBoxedSpan(text) is { } span ? Clean(span.Content!) : null;

    /// <summary>The contents of every complete box, in order.</summary>
    public static IReadOnlyList<string> AllBoxed(string text)
    {
        var result = new List<string>();
        int from = 0;
        while (NextBox(text, from) is { } box)
        {
            if (box.Content != null) result.Add(Clean(box.Content));
            from = box.End;
        }
        return result;
    }

    /// <summary>The content of the last <c>&lt;answer&gt;…&lt;/answer&gt;</c>, or null.</summary>
    public static string? AnswerTag(string text) => LastAnswerTagSpan(text) is { } span ? Clean(span.Content!) : null;

    static readonly Regex AnswerPhrasePattern = new(
        @"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*(?:therefore\s+)?(?<answer>[^\n]+?)\s*(?:\.\s|\.?$|\n)",
        RegexOptions.IgnoreCase | RegexOptions.Multiline | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(200));

    /// <summary>The last "the answer is X" / "Final answer: X" phrase's X, or null.</summary>
    public static string? AnswerPhrase(string text)
    {
        try
        {
            var matches = AnswerPhrasePattern.Matches(text);
            for (int i = matches.Count - 1; i >= 0; i--)
            {
                var answer = Clean(matches[i].Groups["answer"].Value);
                if (answer.Length > 0) return answer;
            }
        }
        catch (RegexMatchTimeoutException) { }
        return null;
    }

    static readonly Regex ChoicePattern = new(
        @"^\s*(?:\\text\{\s*)?(?:option\s+|choice\s+)?[\(\[]?(?<letter>[A-Ha-h])[\)\]]?(?:\s*\})?(?=$|[\s.:,)\]])",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>
    /// The multiple-choice letter an answer starts with ("B", "(B)", "B. 12", "B: 12", "\text{B}",
    /// "option B"), upper-cased; null when the answer does not start with one.
    /// </summary>
    public static char? ChoiceLetter(string answer)
    {
        var match = ChoicePattern.Match(answer);
        return match.Success ? char.ToUpperInvariant(match.Groups["letter"].Value[0]) : null;
    }

    readonly record struct Span(string? Content, int End);

    /// <summary>The next box command at or after <paramref name="from"/>; Content is null when its braces never close.</summary>
    static Span? NextBox(string text, int from)
    {
        int best = -1, commandLength = 0;
        foreach (var command in BoxCommands)
        {
            int at = from;
            while ((at = text.IndexOf(command, at, StringComparison.Ordinal)) >= 0)
            {
                int after = at + command.Length;
                // "\boxed" must not be the prefix of a longer command name.
                if (after < text.Length && char.IsAsciiLetter(text[after])) { at = after; continue; }
                if (best < 0 || at < best) { best = at; commandLength = command.Length; }
                break;
            }
        }
        if (best < 0) return null;
        int i = best + commandLength;
        while (i < text.Length && text[i] == ' ') i++;
        if (i >= text.Length) return new(null, text.Length);
        if (text[i] != '{')
        {
            // "\boxed 5": LaTeX takes one token as the argument.
            int start = i;
            if (char.IsAsciiDigit(text[i])) return new(text[i].ToString(), i + 1);
            while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] != '$') i++;
            return new(text[start..i], i);
        }
        int close = MatchingBrace(text, i);
        return close < 0 ? new(null, text.Length) : new(text[(i + 1)..close], close + 1);
    }

    /// <summary>Index of the brace closing the one at <paramref name="open"/>, skipping escaped braces; -1 when unbalanced.</summary>
    internal static int MatchingBrace(string text, int open)
    {
        int depth = 0;
        for (int i = open; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\\') { i++; continue; }
            if (c == '{') depth++;
            else if (c == '}' && --depth == 0) return i;
        }
        return -1;
    }

    static Span? LastBoxedSpan(string text)
    {
        Span? last = null;
        int from = 0;
        while (NextBox(text, from) is { } box)
        {
            last = box;
            from = box.End;
        }
        // A cut-off last box means the response never finished its answer: no answer, not an earlier box.
        return last is { Content: not null } ? last : null;
    }

    static Span? LastAnswerTagSpan(string text)
    {
        int close = text.LastIndexOf("</answer>", StringComparison.OrdinalIgnoreCase);
        if (close < 0) return null;
        int open = text.LastIndexOf("<answer>", close, StringComparison.OrdinalIgnoreCase);
        if (open < 0) return null;
        return new(text[(open + "<answer>".Length)..close], close + "</answer>".Length);
    }

    /// <summary>Trims whitespace, surrounding <c>$</c> and a trailing full stop.</summary>
    static string Clean(string answer)
    {
        var s = answer.Trim();
        while (s.Length >= 2 && s[0] == '$' && s[^1] == '$') s = s[1..^1].Trim();
        s = s.Trim('$').Trim();
        if (s.EndsWith('.')) s = s[..^1].TrimEnd();
        return s;
    }
}

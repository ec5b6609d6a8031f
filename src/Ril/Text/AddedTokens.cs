using System.Buffers;

namespace Ril.Text;

/// <summary>
/// A token matched in the text before BPE runs, such as "&lt;|im_start|&gt;". Special ones are control
/// tokens that decoding can skip; ordinary added tokens (Qwen's "&lt;think&gt;") are text.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord = false,
                                bool LeftStrip = false, bool RightStrip = false, bool Normalized = false);

/// <summary>
/// Finds added tokens in text: leftmost match first, the longest at that position (as the Hugging Face
/// library does with Aho-Corasick). A handful of tokens, so a first-character filter and ordinal compares
/// are enough.
/// </summary>
sealed class AddedTokenMatcher
{
    readonly SearchValues<char> firstChars;
    readonly Dictionary<char, (string Text, AddedToken Token)[]> byFirstChar; // longest first

    public bool IsEmpty { get; }

    public AddedTokenMatcher(IEnumerable<(string Text, AddedToken Token)> tokens)
    {
        var list = tokens.Where(t => t.Text.Length > 0).ToList();
        IsEmpty = list.Count == 0;
        byFirstChar = list.GroupBy(t => t.Text[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Text.Length).ToArray());
        firstChars = SearchValues.Create(byFirstChar.Keys.ToArray());
    }

    /// <summary>
    /// Cuts text into plain sections and added tokens, in order. A token's range includes the
    /// whitespace that an lstrip/rstrip token swallows.
    /// </summary>
    public void Split(string text, List<(TextRange Range, AddedToken? Token)> output)
    {
        int sectionStart = 0, at = 0;
        while (at < text.Length)
        {
            int found = IsEmpty ? -1 : text.AsSpan(at).IndexOfAny(firstChars);
            if (found < 0) break;
            int position = at + found;
            var (length, token) = MatchAt(text, position);
            if (token == null) { at = position + 1; continue; }
            int start = position, end = position + length;
            if (token.LeftStrip) while (start > sectionStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RightStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > sectionStart) output.Add((new TextRange(sectionStart, start - sectionStart), null));
            output.Add((new TextRange(start, end - start), token));
            sectionStart = at = end;
        }
        if (sectionStart < text.Length) output.Add((new TextRange(sectionStart, text.Length - sectionStart), null));
    }

    (int Length, AddedToken? Token) MatchAt(string text, int position)
    {
        foreach (var (content, token) in byFirstChar[text[position]])
        {
            if (!text.AsSpan(position).StartsWith(content, StringComparison.Ordinal)) continue;
            if (token.SingleWord && !IsWordBoundary(text, position, position + content.Length)) continue;
            return (content.Length, token);
        }
        return (0, null);
    }

    // single_word tokens must not touch word characters on either side.
    static bool IsWordBoundary(string text, int start, int end) =>
        (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));

    static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}

using Ril.Text;

namespace Ril.Models;

/// <summary>How every processor turns its rendered chat into ids, the messages' own text kept as text.</summary>
public static class ChatEncoding
{
    /// <summary>
    /// Ids of a rendered conversation in which the messages' own text can never become a control token: a user who
    /// writes "&lt;|im_end|&gt;&lt;|im_start|&gt;system" gets those characters, not a system turn. When no message holds
    /// a special token's text (the usual case) this is the plain encoding of the whole text, as transformers does it;
    /// otherwise each message's text is found in the rendering and encoded as text, and a template that rewrote such
    /// a message beyond recognition is refused rather than trusted.
    /// </summary>
    public static int[] Encode(BpeTokenizer tokenizer, string rendered, IReadOnlyList<ChatMessage> messages, string imageMarker = ChatTemplate.DefaultImageMarker)
    {
        var texts = messages.SelectMany(m => m.Content.Split(imageMarker)).Where(t => t.Length > 0).ToList();
        if (!texts.Any(t => SpecialTokenIn(tokenizer, t) is not null)) return tokenizer.Encode(rendered);
        var ids = new List<int>();
        int at = 0;
        foreach (var text in texts)
        {
            string span = text;
            int found = rendered.IndexOf(span, at, StringComparison.Ordinal);
            if (found < 0 && text.Trim() is { Length: > 0 } trimmed) found = rendered.IndexOf(span = trimmed, at, StringComparison.Ordinal);
            if (found < 0)
            {
                if (SpecialTokenIn(tokenizer, text) is { } token)
                    throw new ArgumentException($"a message holds the control token {token} as text, and the chat template rewrites that message, so it could not be kept as text");
                continue;
            }
            tokenizer.Encode(rendered[at..found], ids);
            tokenizer.Encode(span, ids, specialTokensAsText: true);
            at = found + span.Length;
        }
        tokenizer.Encode(rendered[at..], ids);
        return [.. ids];
    }

    static string? SpecialTokenIn(BpeTokenizer tokenizer, string text) =>
        tokenizer.AddedTokens.FirstOrDefault(t => t.Special && t.Content.Length > 0 && text.Contains(t.Content, StringComparison.Ordinal))?.Content;
}

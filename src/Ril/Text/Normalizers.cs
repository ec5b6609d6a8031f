namespace Ril.Text;

/// <summary>The "normalizer" of a tokenizer.json: rewrites text before it is split (NFC for Qwen).</summary>
public abstract class TextNormalizer
{
    public abstract string Normalize(string text);

    public sealed class Nfc : TextNormalizer
    {
        public override string Normalize(string text) => UnicodeNormalization.ToNfc(text);
    }

    public sealed class Nfd : TextNormalizer
    {
        public override string Normalize(string text) => UnicodeNormalization.ToNfd(text);
    }

    /// <summary>Simple (one-to-one) lower-casing; Rust's full mapping differs on a few characters such as 'İ'.</summary>
    public sealed class Lowercase : TextNormalizer
    {
        public override string Normalize(string text) => text.ToLowerInvariant();
    }

    /// <summary>Puts a string before the text (SentencePiece-style "▁").</summary>
    public sealed class Prepend(string prefix) : TextNormalizer
    {
        public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
    }

    /// <summary>Replaces every occurrence of a literal string.</summary>
    public sealed class Replace(string pattern, string content) : TextNormalizer
    {
        public override string Normalize(string text) => text.Replace(pattern, content, StringComparison.Ordinal);
    }

    public sealed class Sequence(IReadOnlyList<TextNormalizer> steps) : TextNormalizer
    {
        public IReadOnlyList<TextNormalizer> Steps => steps;
        public override string Normalize(string text)
        {
            foreach (var step in steps) text = step.Normalize(text);
            return text;
        }
    }

    internal static TextNormalizer? FromJson(JsonField field)
    {
        if (field.IsNull) return null;
        var type = field["type"].String();
        switch (type)
        {
            case "NFC": return new Nfc();
            case "NFD": return new Nfd();
            case "Lowercase": return new Lowercase();
            case "Prepend": return new Prepend(field["prepend"].String());
            case "Replace":
                var pattern = field["pattern"];
                if (!pattern.TryGet("String", out var literal))
                    throw pattern.Error("only the {\"String\": ...} form is supported for Replace normalizers");
                return new Replace(literal.String(), field["content"].String());
            case "Sequence":
                return new Sequence(field["normalizers"].Items().Select(FromJson).OfType<TextNormalizer>().ToArray());
            default:
                throw field["type"].Error($"normalizer '{type}' is not supported (supported: NFC, NFD, Lowercase, Prepend, Replace, Sequence)");
        }
    }
}

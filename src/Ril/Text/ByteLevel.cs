namespace Ril.Text;

/// <summary>
/// GPT-2's byte-to-character map, which byte-level BPE vocabularies are written in: every byte becomes
/// one printable character, so a token is a string without spaces or control characters. Printable
/// Latin-1 bytes map to themselves; the other 68 map, in byte order, to U+0100 onwards (space → 'Ġ',
/// newline → 'Ċ').
/// </summary>
public static class ByteLevel
{
    /// <summary>The character that stands for each byte.</summary>
    public static IReadOnlyList<char> ByteToChar => byteToChar;
    static readonly char[] byteToChar = new char[256];
    // Characters of the alphabet are all below U+0144; -1 marks the rest.
    static readonly short[] charToByte = new short[0x144];

    static ByteLevel()
    {
        Array.Fill(charToByte, (short)-1);
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            byteToChar[b] = printable ? (char)b : (char)next++;
            charToByte[byteToChar[b]] = (short)b;
        }
    }

    /// <summary>The byte a character of the alphabet stands for, or -1 for any other character.</summary>
    public static int CharToByte(char c) => c < charToByte.Length ? charToByte[c] : -1;

    /// <summary>Writes text's UTF-8 bytes as alphabet characters.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        Span<byte> stack = stackalloc byte[256];
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
        var bytes = max <= stack.Length ? stack : new byte[max];
        int n = System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return string.Create(n, bytes[..n].ToArray(), static (chars, b) =>
        {
            for (int i = 0; i < b.Length; i++) chars[i] = byteToChar[b[i]];
        });
    }

    /// <summary>
    /// The bytes a token stands for: its characters mapped back through the alphabet, or, when any
    /// character is outside it (an added token such as "&lt;think&gt;" written in plain text), the
    /// token's own UTF-8 bytes, as the Hugging Face ByteLevel decoder does.
    /// </summary>
    public static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            int b = CharToByte(token[i]);
            if (b < 0) return System.Text.Encoding.UTF8.GetBytes(token);
            bytes[i] = (byte)b;
        }
        return bytes;
    }
}

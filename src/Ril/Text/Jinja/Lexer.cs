using System.Globalization;
using System.Text;

namespace Ril.Text.Jinja;

enum TokenKind { Text, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End }

readonly record struct Token(TokenKind Kind, string Value, int Line, object? Literal = null)
{
    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;
    public bool IsOperator(string op) => Kind == TokenKind.Operator && Value == op;
    /// <summary>How jinja2 names the token in errors, quoted: 'end of print statement', 'foo'.</summary>
    public override string ToString() => "'" + Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        _ => Value,
    } + "'";
}

/// <summary>
/// Splits a template into text and the tokens inside <c>{{ }}</c> and <c>{% %}</c>, with the whitespace rules of
/// transformers' environment: <c>trim_blocks</c> (a newline right after a block tag goes), <c>lstrip_blocks</c>
/// (spaces before a block tag on its own line go), and the <c>-</c>/<c>+</c> markers.
/// </summary>
static class Lexer
{
    static readonly string[] Operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    public static List<Token> Tokenize(string source)
    {
        source = NormalizeNewlines(source);
        var tokens = new List<Token>();
        int pos = 0, line = 1;
        bool lineStarting = true;   // the previous tag ended with a newline, so text before the next one starts a line
        while (pos < source.Length)
        {
            int start = FindTagStart(source, pos);
            if (start < 0)
            {
                tokens.Add(new Token(TokenKind.Text, source[pos..], line));
                break;
            }
            char kind = source[start + 1];
            char sign = start + 2 < source.Length ? source[start + 2] : '\0';
            string text = source[pos..start];
            if (sign == '-') text = text.TrimEnd();
            else if (sign != '+' && kind != '{')
            {
                int lineBegin = text.LastIndexOf('\n') + 1;
                if ((lineBegin > 0 || lineStarting) && text.AsSpan(lineBegin).IndexOfAnyExcept(' ', '\t') < 0)
                    text = text[..lineBegin];
            }
            if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, line));
            line += CountNewlines(source, pos, start);
            pos = start + 2 + (sign is '-' or '+' ? 1 : 0);
            if (kind == '#')
            {
                int end = source.IndexOf("#}", pos, StringComparison.Ordinal);
                if (end < 0) throw new TemplateException("Missing end of comment tag", line);
                bool strip = end > pos && source[end - 1] == '-';
                bool keep = end > pos && source[end - 1] == '+';
                line += CountNewlines(source, pos, end + 2);
                pos = AfterTagEnd(source, end + 2, strip, trimNewline: !keep, ref line);
            }
            else
            {
                bool block = kind == '%';
                tokens.Add(new Token(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, block ? "{%" : "{{", line));
                pos = TokenizeTag(source, pos, block, tokens, ref line);
            }
            lineStarting = pos > 0 && source[pos - 1] == '\n';
        }
        tokens.Add(new Token(TokenKind.End, "", line));
        return tokens;
    }

    /// <summary>jinja2 joins str.splitlines() with "\n": every line break becomes \n and one final newline is dropped.</summary>
    static string NormalizeNewlines(string source)
    {
        var sb = new StringBuilder(source.Length);
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (c == '\r' && i + 1 < source.Length && source[i + 1] == '\n') { sb.Append('\n'); i++; }
            else if (c is '\r' or '\n' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029') sb.Append('\n');
            else sb.Append(c);
        }
        if (sb.Length > 0 && sb[^1] == '\n') sb.Length--;
        return sb.ToString();
    }

    static int FindTagStart(string s, int from)
    {
        for (int i = s.IndexOf('{', from); i >= 0 && i + 1 < s.Length; i = s.IndexOf('{', i + 1))
            if (s[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    static int CountNewlines(string s, int from, int to)
    {
        int n = 0;
        for (int i = from; i < to; i++) if (s[i] == '\n') n++;
        return n;
    }

    /// <summary>Past a tag's end: all whitespace after "-%}", or one newline after "%}" (trim_blocks).</summary>
    static int AfterTagEnd(string s, int pos, bool strip, bool trimNewline, ref int line)
    {
        if (strip)
        {
            while (pos < s.Length && char.IsWhiteSpace(s[pos])) { if (s[pos] == '\n') line++; pos++; }
        }
        else if (trimNewline && pos < s.Length && s[pos] == '\n') { pos++; line++; }
        return pos;
    }

    static int TokenizeTag(string s, int pos, bool block, List<Token> tokens, ref int line)
    {
        int depth = 0;   // open brackets: "}}" inside a dict literal does not end the tag
        string close = block ? "%}" : "}}";
        while (true)
        {
            while (pos < s.Length && char.IsWhiteSpace(s[pos])) { if (s[pos] == '\n') line++; pos++; }
            if (pos >= s.Length) throw new TemplateException($"unexpected end of template, expected '{(block ? "end of statement block" : "end of print statement")}'.", line);
            if (depth == 0)
            {
                bool strip = s[pos] == '-' && string.CompareOrdinal(s, pos + 1, close, 0, 2) == 0;
                bool keep = block && s[pos] == '+' && string.CompareOrdinal(s, pos + 1, close, 0, 2) == 0;
                if (strip || keep || string.CompareOrdinal(s, pos, close, 0, 2) == 0)
                {
                    tokens.Add(new Token(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, line));
                    pos += strip || keep ? 3 : 2;
                    return AfterTagEnd(s, pos, strip, trimNewline: block && !keep, ref line);
                }
            }
            char c = s[pos];
            if (c is '\'' or '"') pos = ReadString(s, pos, line, tokens);
            else if (char.IsAsciiDigit(c)) pos = ReadNumber(s, pos, line, tokens);
            else if (char.IsLetter(c) || c == '_')
            {
                int start = pos;
                while (pos < s.Length && (char.IsLetterOrDigit(s[pos]) || s[pos] == '_')) pos++;
                tokens.Add(new Token(TokenKind.Name, s[start..pos], line));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(s, pos, o, 0, o.Length) == 0)
                         ?? throw new TemplateException($"unexpected char {PythonValues.Repr(c.ToString())} at {pos}", line);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0) throw new TemplateException($"unexpected '{op}'", line);
                    depth--;
                }
                tokens.Add(new Token(TokenKind.Operator, op, line));
                pos += op.Length;
            }
        }
    }

    static int ReadNumber(string s, int pos, int line, List<Token> tokens)
    {
        int start = pos;
        while (pos < s.Length && (char.IsAsciiDigit(s[pos]) || s[pos] == '_')) pos++;
        bool isFloat = false;
        if (pos + 1 < s.Length && s[pos] == '.' && char.IsAsciiDigit(s[pos + 1]))
        {
            isFloat = true;
            pos++;
            while (pos < s.Length && (char.IsAsciiDigit(s[pos]) || s[pos] == '_')) pos++;
        }
        if (pos < s.Length && s[pos] is 'e' or 'E')
        {
            int e = pos + 1;
            if (e < s.Length && s[e] is '+' or '-') e++;
            if (e < s.Length && char.IsAsciiDigit(s[e]))
            {
                isFloat = true;
                pos = e;
                while (pos < s.Length && char.IsAsciiDigit(s[pos])) pos++;
            }
        }
        string text = s[start..pos].Replace("_", "");
        tokens.Add(isFloat
            ? new Token(TokenKind.Float, text, line, double.Parse(text, CultureInfo.InvariantCulture))
            : new Token(TokenKind.Integer, text, line, long.Parse(text, CultureInfo.InvariantCulture)));
        return pos;
    }

    /// <summary>A quoted string with Python's escapes (\n, \t, \xhh, \uhhhh, \', ...); unknown escapes keep their backslash.</summary>
    static int ReadString(string s, int pos, int line, List<Token> tokens)
    {
        char quote = s[pos];
        var sb = new StringBuilder();
        int i = pos + 1;
        while (true)
        {
            if (i >= s.Length) throw new TemplateException($"unexpected char {PythonValues.Repr(quote.ToString())} at {pos}", line);
            char c = s[i];
            if (c == quote) break;
            if (c != '\\' || i + 1 >= s.Length) { sb.Append(c); i++; continue; }
            char e = s[i + 1];
            i += 2;
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case 'x': sb.Append(HexEscape(s, ref i, 2, line)); break;
                case 'u': sb.Append(HexEscape(s, ref i, 4, line)); break;
                case 'U': sb.Append(HexEscape(s, ref i, 8, line)); break;
                case >= '0' and <= '7':
                    int value = e - '0';
                    for (int k = 0; k < 2 && i < s.Length && s[i] is >= '0' and <= '7'; k++, i++) value = value * 8 + (s[i] - '0');
                    sb.Append(char.ConvertFromUtf32(value));
                    break;
                default: sb.Append('\\').Append(e); break;
            }
        }
        tokens.Add(new Token(TokenKind.String, s[pos..(i + 1)], line, sb.ToString()));
        return i + 1;
    }

    static string HexEscape(string s, ref int i, int digits, int line)
    {
        if (i + digits > s.Length || !int.TryParse(s.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp))
            throw new TemplateException($"truncated \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in a string", line);
        i += digits;
        return char.ConvertFromUtf32(cp);
    }
}

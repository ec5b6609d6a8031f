using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Ril.Text.Jinja;

/// <summary>
/// jinja2's filters, tests and globals, and the Python methods of str, dict and list that templates call, under
/// the rules of the ImmutableSandboxedEnvironment transformers uses (methods that modify a list or dict are refused).
/// </summary>
static partial class Builtins
{
    // ---------------------------------------------------------------- attribute and item access

    static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "splitlines", "replace", "upper", "lower",
        "title", "capitalize", "find", "rfind", "index", "rindex", "count", "format", "join", "isdigit", "isalpha", "isalnum",
        "isspace", "isupper", "islower", "isnumeric", "isdecimal", "removeprefix", "removesuffix", "swapcase", "zfill",
        "center", "ljust", "rjust", "partition", "rpartition",
    ];
    static readonly HashSet<string> DictMethods = ["items", "keys", "values", "get", "copy"];
    static readonly HashSet<string> UnsafeDictMethods = ["clear", "pop", "popitem", "setdefault", "update"];
    static readonly HashSet<string> ListMethods = ["index", "count", "copy"];
    static readonly HashSet<string> UnsafeListMethods = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"];

    /// <summary><c>obj.name</c>: an attribute (method) first, then an item, as jinja2's getattr does.</summary>
    public static object? GetAttribute(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Error();
        if (name.StartsWith('_')) return Undefined.WithHint($"access to attribute {PythonValues.Repr(name)} of {PythonValues.Repr(PythonValues.TypeName(obj))} object is unsafe.");
        switch (obj)
        {
            case string when StringMethods.Contains(name):
            case Dictionary<object, object?> when DictMethods.Contains(name):
            case List<object?> when ListMethods.Contains(name):
            case object?[] when name is "index" or "count":
                return new BoundMethod(obj, name);
            case Dictionary<object, object?> when UnsafeDictMethods.Contains(name):
            case List<object?> when UnsafeListMethods.Contains(name):
                return Undefined.WithHint($"access to attribute {PythonValues.Repr(name)} of {PythonValues.Repr(PythonValues.TypeName(obj))} object is unsafe.");
            case Dictionary<object, object?> dict:
                return dict.TryGetValue(name, out var value) ? value : Undefined.Member(obj, name);
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : Undefined.Member(obj, name);
            case LoopContext loop:
                return loop.Attribute(name);
            case double d when name is "real" or "imag":
                return name == "real" ? d : 0.0;
            default:
                return Undefined.Member(obj, name);
        }
    }

    /// <summary><c>obj[key]</c>: an item first, then (for a string key) an attribute, as jinja2's getitem does.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Error();
        switch (obj)
        {
            case Dictionary<object, object?> dict when key != null && key is not Undefined && dict.TryGetValue(key, out var value):
                return value;
            case List<object?> or object?[] when key is long or bool:
                var items = (IReadOnlyList<object?>)obj;
                long index = key is bool b ? (b ? 1 : 0) : (long)key;
                if (index < 0) index += items.Count;
                return index >= 0 && index < items.Count ? items[(int)index] : Undefined.Member(obj, key);
            case string s when key is long or bool:
                var runes = s.EnumerateRunes().ToList();
                long i = key is bool c ? (c ? 1 : 0) : (long)key;
                if (i < 0) i += runes.Count;
                return i >= 0 && i < runes.Count ? runes[(int)i].ToString() : Undefined.Member(obj, key);
        }
        if (key is string name) return GetAttribute(obj, name);
        return Undefined.Member(obj, key);
    }

    /// <summary>Python's <c>seq[start:stop:step]</c> on a list, tuple or string.</summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u) throw u.Error();
        long stepValue = step == null ? 1 : SliceIndex(step);
        if (stepValue == 0) throw new TemplateException("slice step cannot be zero");
        var items = obj switch
        {
            string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
            List<object?> l => l,
            object?[] t => t.ToList(),
            _ => null,
        };
        if (items == null) return Undefined.Member(obj, new SliceKey(start, stop, step));   // jinja2 turns the TypeError into Undefined
        int n = items.Count;
        long Clamp(object? bound, long fallback, bool isStart)
        {
            if (bound == null) return fallback;
            long i = SliceIndex(bound);
            if (i < 0) i += n;
            return stepValue > 0 ? Math.Clamp(i, 0, n) : Math.Clamp(i, -1, n - 1);
        }
        long from = Clamp(start, stepValue > 0 ? 0 : n - 1, true);
        long to = Clamp(stop, stepValue > 0 ? n : -1, false);
        var result = new List<object?>();
        for (long i = from; stepValue > 0 ? i < to : i > to; i += stepValue) result.Add(items[(int)i]);
        return obj switch
        {
            string => string.Concat(result.Select(r => (string)r!)),
            object?[] => result.ToArray(),
            _ => result,
        };
    }

    /// <summary>The slice a failed <c>x[a:b]</c> names in its Undefined: slice(1, None, None).</summary>
    internal sealed record SliceKey(object? Start, object? Stop, object? Step)
    {
        public override string ToString() => $"slice({PythonValues.Repr(Start)}, {PythonValues.Repr(Stop)}, {PythonValues.Repr(Step)})";
    }

    static long SliceIndex(object? v) => v switch
    {
        long i => i,
        bool b => b ? 1 : 0,
        _ => throw new TemplateException("slice indices must be integers or None or have an __index__ method"),
    };

    // ---------------------------------------------------------------- methods of str, dict and list

    public static object? CallMethod(object target, string name, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        var call = new CallArguments(name, args, kwargs);
        switch (target)
        {
            case string s: return StringMethod(s, name, call);
            case Dictionary<object, object?> dict:
                switch (name)
                {
                    case "items": call.Done(0); return dict.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList();
                    case "keys": call.Done(0); return dict.Keys.ToList<object?>();
                    case "values": call.Done(0); return dict.Values.ToList();
                    case "copy": call.Done(0); return new Dictionary<object, object?>(dict, dict.Comparer);
                    case "get":
                        var key = call.Required(0, "key");
                        var fallback = call.Optional(1, "default", null);
                        call.Done(2);
                        return key != null && key is not Undefined && dict.TryGetValue(key, out var v) ? v : fallback;
                }
                break;
            case List<object?> or object?[]:
                var items = (IReadOnlyList<object?>)target;
                switch (name)
                {
                    case "count": var x = call.Required(0, "value"); call.Done(1); return (long)items.Count(i => PythonValues.Equal(i, x));
                    case "copy": call.Done(0); return items.ToList();
                    case "index":
                        var wanted = call.Required(0, "value");
                        call.Done(1);
                        for (int i = 0; i < items.Count; i++) if (PythonValues.Equal(items[i], wanted)) return (long)i;
                        throw new TemplateException($"{PythonValues.Repr(wanted)} is not in list");
                }
                break;
        }
        throw new TemplateException($"{PythonValues.Repr(PythonValues.ObjectTypeRepr(target))} has no attribute {PythonValues.Repr(name)}");
    }

    /// <summary>The arguments of one call, read as a Python function reads its parameters.</summary>
    sealed class CallArguments(string function, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        readonly HashSet<string> _used = [];

        public object? Optional(int position, string name, object? fallback)
        {
            _used.Add(name);
            if (position < args.Count) return args[position];
            return kwargs.TryGetValue(name, out var v) ? v : fallback;
        }

        /// <summary>A keyword-only argument.</summary>
        public object? Keyword(string name, object? fallback)
        {
            _used.Add(name);
            return kwargs.TryGetValue(name, out var v) ? v : fallback;
        }

        public bool HasKeyword(string name) => kwargs.ContainsKey(name);

        public object? Required(int position, string name)
        {
            if (position >= args.Count && !kwargs.ContainsKey(name))
                throw new TemplateException($"{function}() missing required argument '{name}' (pos {position + 1})");
            return Optional(position, name, null);
        }

        public IReadOnlyList<object?> Rest(int from) => args.Skip(from).ToList();

        /// <summary>Fails on more positional arguments than <paramref name="maxPositional"/> or unknown keywords.</summary>
        public void Done(int maxPositional)
        {
            if (args.Count > maxPositional)
                throw new TemplateException($"{function}() takes at most {maxPositional} argument{(maxPositional == 1 ? "" : "s")} ({args.Count} given)");
            foreach (var key in kwargs.Keys)
                if (!_used.Contains(key)) throw new TemplateException($"{function}() got an unexpected keyword argument '{key}'");
        }
    }

    static string RequireString(object? v, string what) => v as string
        ?? throw new TemplateException($"{what} must be str, not {PythonValues.TypeName(v)}");

    static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is '\x1c' or '\x1d' or '\x1e' or '\x1f';

    static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars switch
        {
            null => IsPythonSpace,
            string set => set.Contains,
            _ => throw new TemplateException($"strip arg must be None or str"),
        };
        int from = 0, to = s.Length;
        if (left) while (from < to && strip(s[from])) from++;
        if (right) while (to > from && strip(s[to - 1])) to--;
        return s[from..to];
    }

    static object? StringMethod(string s, string name, CallArguments call)
    {
        switch (name)
        {
            case "strip" or "lstrip" or "rstrip":
                var chars = call.Optional(0, "chars", null);
                call.Done(1);
                return Strip(s, chars, name != "rstrip", name != "lstrip");
            case "startswith" or "endswith":
                var affix = call.Required(0, name == "startswith" ? "prefix" : "suffix");
                call.Done(1);
                var candidates = affix switch
                {
                    string one => [one],
                    object?[] tuple => tuple.Select(t => RequireString(t, $"tuple for {name}")).ToArray(),
                    _ => throw new TemplateException($"{name} first arg must be str or a tuple of str, not {PythonValues.TypeName(affix)}"),
                };
                return candidates.Any(c => name == "startswith" ? s.StartsWith(c, StringComparison.Ordinal) : s.EndsWith(c, StringComparison.Ordinal));
            case "split" or "rsplit":
                var separator = call.Optional(0, "sep", null);
                var maxSplit = call.Optional(1, "maxsplit", -1L);
                call.Done(2);
                return Split(s, separator, maxSplit is long m ? m : -1, name == "rsplit");
            case "splitlines":
                call.Done(0);
                return Regex.Split(s, "\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]").Select(x => (object?)x).ToList() is var lines
                       && lines.Count > 0 && (string)lines[^1]! == "" ? lines.Take(lines.Count - 1).ToList() : lines;
            case "replace":
                var old = RequireString(call.Required(0, "old"), "replace() argument 1");
                var replacement = RequireString(call.Required(1, "new"), "replace() argument 2");
                var count = call.Optional(2, "count", -1L);
                call.Done(3);
                return Replace(s, old, replacement, count is long c ? c : -1);
            case "upper": call.Done(0); return s.ToUpperInvariant();
            case "lower": call.Done(0); return s.ToLowerInvariant();
            case "swapcase": call.Done(0); return string.Concat(s.Select(ch => char.IsUpper(ch) ? char.ToLowerInvariant(ch) : char.ToUpperInvariant(ch)));
            case "title": call.Done(0); return PythonTitle(s);
            case "capitalize": call.Done(0); return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
            case "find" or "rfind" or "index" or "rindex" or "count":
                var sub = call.Required(0, "sub") as string ?? throw new TemplateException($"must be str, not {PythonValues.TypeName(call.Required(0, "sub"))}");
                var (start, end) = (call.Optional(1, "start", null), call.Optional(2, "end", null));
                call.Done(3);
                int from = start is long f ? (int)Math.Clamp(f < 0 ? f + s.Length : f, 0, s.Length) : 0;
                int to = end is long t ? (int)Math.Clamp(t < 0 ? t + s.Length : t, 0, s.Length) : s.Length;
                if (name == "count") return to < from ? 0L : (long)CountOccurrences(s[from..to], sub);
                int at = to < from ? -1 : name.StartsWith('r') ? s[from..to].LastIndexOf(sub, StringComparison.Ordinal) : s[from..to].IndexOf(sub, StringComparison.Ordinal);
                if (at < 0 && name.EndsWith("index")) throw new TemplateException("substring not found");
                return at < 0 ? -1L : (long)(at + from);
            case "join":
                var parts = Evaluator.Iterate(call.Required(0, "iterable")).ToList();
                call.Done(1);
                for (int i = 0; i < parts.Count; i++)
                    if (parts[i] is not string) throw new TemplateException($"sequence item {i}: expected str instance, {PythonValues.TypeName(parts[i])} found");
                return string.Join(s, parts);
            case "format": return Format(s, call.Rest(0), call);
            case "isdigit" or "isdecimal" or "isnumeric": call.Done(0); return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": call.Done(0); return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": call.Done(0); return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": call.Done(0); return s.Length > 0 && s.All(IsPythonSpace);
            case "isupper": call.Done(0); return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower": call.Done(0); return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            case "removeprefix":
                var prefix = RequireString(call.Required(0, "prefix"), "removeprefix() argument");
                call.Done(1);
                return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
            case "removesuffix":
                var suffix = RequireString(call.Required(0, "suffix"), "removesuffix() argument");
                call.Done(1);
                return suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s;
            case "zfill":
                var width = (int)(long)call.Required(0, "width")!;
                call.Done(1);
                if (s.Length >= width) return s;
                int sign = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                return s[..sign] + new string('0', width - s.Length) + s[sign..];
            case "center" or "ljust" or "rjust":
                var size = (int)(long)call.Required(0, "width")!;
                var fill = RequireString(call.Optional(1, "fillchar", " "), "fill character");
                call.Done(2);
                if (s.Length >= size) return s;
                int pad = size - s.Length;
                int left = name switch { "ljust" => 0, "rjust" => pad, _ => pad / 2 + (pad & size & 1) };
                return new string(fill[0], left) + s + new string(fill[0], pad - left);
            case "partition" or "rpartition":
                var sep = RequireString(call.Required(0, "sep"), "partition() argument");
                call.Done(1);
                int p = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                if (p < 0) return name == "partition" ? new object?[] { s, "", "" } : new object?[] { "", "", s };
                return new object?[] { s[..p], sep, s[(p + sep.Length)..] };
        }
        throw new TemplateException($"'str object' has no attribute {PythonValues.Repr(name)}");
    }

    static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int n = 0;
        for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? ReplaceEmpty(s, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        if (old.Length == 0) return ReplaceEmpty(s, replacement, count);
        var sb = new StringBuilder();
        int pos = 0;
        for (long done = 0; done < count; done++)
        {
            int at = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, pos, at - pos).Append(replacement);
            pos = at + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    static string ReplaceEmpty(string s, string insert, long count)
    {
        var sb = new StringBuilder();
        long done = 0;
        foreach (var rune in s.EnumerateRunes())
        {
            if (done++ < count) sb.Append(insert);
            sb.Append(rune.ToString());
        }
        if (done < count) sb.Append(insert);
        return sb.ToString();
    }

    static List<object?> Split(string s, object? separator, long maxSplit, bool fromRight)
    {
        var parts = new List<string>();
        if (separator == null)
        {
            var words = new List<(int Start, int End)>();
            for (int i = 0; i < s.Length;)
            {
                while (i < s.Length && IsPythonSpace(s[i])) i++;
                if (i >= s.Length) break;
                int start = i;
                while (i < s.Length && !IsPythonSpace(s[i])) i++;
                words.Add((start, i));
            }
            if (maxSplit < 0 || words.Count <= maxSplit) return words.Select(w => (object?)s[w.Start..w.End]).ToList();
            if (!fromRight)
            {
                var head = words.Take((int)maxSplit).Select(w => (object?)s[w.Start..w.End]).ToList();
                head.Add(s[words[(int)maxSplit].Start..]);   // the rest keeps its trailing whitespace, as in Python
                return head;
            }
            int keep = words.Count - (int)maxSplit;
            var tail = new List<object?> { s[..words[keep - 1].End] };
            tail.AddRange(words.Skip(keep).Select(w => (object?)s[w.Start..w.End]));
            return tail;
        }
        var sep = RequireString(separator, "separator");
        if (sep.Length == 0) throw new TemplateException("empty separator");
        var all = s.Split(sep);
        if (maxSplit < 0 || all.Length <= maxSplit + 1) return all.Select(p => (object?)p).ToList();
        if (!fromRight)
        {
            var head = all.Take((int)maxSplit).Select(p => (object?)p).ToList();
            head.Add(string.Join(sep, all.Skip((int)maxSplit)));
            return head;
        }
        int cut = all.Length - (int)maxSplit;
        var result = new List<object?> { string.Join(sep, all.Take(cut)) };
        result.AddRange(all.Skip(cut).Select(p => (object?)p));
        return result;
    }

    /// <summary>Python's str.title: a letter after a non-letter is upper case, any other lower case.</summary>
    static string PythonTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    /// <summary>str.format with "{}", "{0}" and "{name}" fields (no format specs).</summary>
    static string Format(string format, IReadOnlyList<object?> args, CallArguments call)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '{' && i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c != '{') { sb.Append(c); continue; }
            int close = format.IndexOf('}', i);
            if (close < 0) throw new TemplateException("Single '{' encountered in format string");
            var field = format[(i + 1)..close];
            object? value;
            if (field.Length == 0) value = auto < args.Count ? args[auto++] : throw new TemplateException("Replacement index out of range");
            else if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                value = n < args.Count ? args[n] : throw new TemplateException($"Replacement index {n} out of range");
            else value = call.HasKeyword(field) ? call.Keyword(field, null) : throw new TemplateException($"'{field}'");   // Python's KeyError
            sb.Append(PythonValues.Str(value));
            i = close;
        }
        return sb.ToString();
    }
}

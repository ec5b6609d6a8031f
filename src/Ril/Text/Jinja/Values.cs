using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Ril.Text.Jinja;

// Template values are plain .NET objects standing for Python's: null is None, bool, long (int), double (float),
// string, List<object?> (list), object?[] (tuple), Dictionary (dict, insertion-ordered), plus the types below.

/// <summary>jinja2's default Undefined: prints as nothing, is falsy, iterates as empty, and fails on any other use.</summary>
public sealed class Undefined
{
    readonly string? _hint;
    readonly object? _owner;
    readonly bool _hasOwner;
    readonly object? _name;

    Undefined(string? hint, object? owner, bool hasOwner, object? name) { _hint = hint; _owner = owner; _hasOwner = hasOwner; _name = name; }

    /// <summary>A variable that is not defined.</summary>
    public static Undefined Variable(string name) => new(null, null, false, name);
    /// <summary>An attribute or item that <paramref name="owner"/> does not have.</summary>
    public static Undefined Member(object? owner, object? name) => new(null, owner, true, name);
    public static Undefined WithHint(string hint) => new(hint, null, false, null);

    /// <summary>The UndefinedError message jinja2 gives when this value is used.</summary>
    public string Message
    {
        get
        {
            if (_hint != null) return _hint;
            if (!_hasOwner) return $"{PythonValues.Repr(_name)} is undefined";
            if (_name is not string) return $"{PythonValues.ObjectTypeRepr(_owner)} has no element {PythonValues.Repr(_name)}";
            return $"{PythonValues.Repr(PythonValues.ObjectTypeRepr(_owner))} has no attribute {PythonValues.Repr(_name)}";
        }
    }

    public TemplateException Error() => new(Message);
}

/// <summary>What <c>namespace(...)</c> makes: attributes a loop body can assign and the code after it can read.</summary>
public sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = new();
}

/// <summary>Something a template can call: a global function, a macro, or a bound method of a value.</summary>
public interface ITemplateCallable
{
    object? Call(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);
}

/// <summary>A function written in C#, e.g. <c>raise_exception</c> or <c>range</c>.</summary>
public sealed class NativeFunction(string name, Func<IReadOnlyList<object?>, IReadOnlyDictionary<string, object?>, object?> body) : ITemplateCallable
{
    public string Name { get; } = name;
    public object? Call(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) => body(args, kwargs);
}

/// <summary>Python's semantics for template values: str, repr, truth, equality, ordering and json.dumps.</summary>
public static class PythonValues
{
    /// <summary>A dict: insertion-ordered, keys compared as Python compares them.</summary>
    public static Dictionary<object, object?> NewDict() => new(KeyComparer.Instance);

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        Dictionary<object, object?> => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        ITemplateCallable => "function",
        _ => v.GetType().Name,
    };

    /// <summary>jinja2's object_type_repr: "None", or "list object", "dict object"...</summary>
    public static string ObjectTypeRepr(object? v) => v == null ? "None" : $"{TypeName(v)} object";

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long i => i != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        Dictionary<object, object?> d => d.Count > 0,
        Undefined => false,
        _ => true,
    };

    /// <summary>Python's str().</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    /// <summary>Python's repr(): what a list or dict shows of the values inside it.</summary>
    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    static void AppendRepr(StringBuilder sb, object? v)
    {
        switch (v)
        {
            case null: sb.Append("None"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long i: sb.Append(i.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FloatRepr(d)); break;
            case string s: AppendStringRepr(sb, s); break;
            case Undefined: sb.Append("Undefined"); break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, list[i]); }
                sb.Append(']');
                break;
            case object?[] tuple:
                sb.Append('(');
                for (int i = 0; i < tuple.Length; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, tuple[i]); }
                if (tuple.Length == 1) sb.Append(',');
                sb.Append(')');
                break;
            case Dictionary<object, object?> dict:
                sb.Append('{');
                bool first = true;
                foreach (var (key, value) in dict)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, key);
                    sb.Append(": ");
                    AppendRepr(sb, value);
                }
                sb.Append('}');
                break;
            case Namespace ns:
                sb.Append("<Namespace ");
                AppendRepr(sb, ToDict(ns.Attributes));
                sb.Append('>');
                break;
            case NativeFunction f: sb.Append("<function ").Append(f.Name).Append('>'); break;
            case Macro m: sb.Append("<Macro '").Append(m.Name).Append("'>"); break;
            case Builtins.SliceKey slice: sb.Append(slice); break;
            default: sb.Append('<').Append(TypeName(v)).Append(" object>"); break;
        }
    }

    static Dictionary<object, object?> ToDict(Dictionary<string, object?> attributes)
    {
        var d = NewDict();
        foreach (var (k, v) in attributes) d[k] = v;
        return d;
    }

    /// <summary>repr of a str: single quotes unless the text has ' and no ", non-printable characters escaped.</summary>
    static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            int cp = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];
            if (cp > 0xFFFF) i++;
            if (cp == quote || cp == '\\') sb.Append('\\').Append((char)cp);
            else if (cp == '\n') sb.Append("\\n");
            else if (cp == '\r') sb.Append("\\r");
            else if (cp == '\t') sb.Append("\\t");
            else if (IsPrintable(cp)) sb.Append(char.ConvertFromUtf32(cp));
            else if (cp < 0x100) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
            else if (cp < 0x10000) sb.Append("\\u").Append(cp.ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append("\\U").Append(cp.ToString("x8", CultureInfo.InvariantCulture));
        }
        sb.Append(quote);
    }

    /// <summary>Python's str.isprintable for one code point: not a control, format, separator (but space) or unassigned.</summary>
    static bool IsPrintable(int cp)
    {
        if (cp == ' ') return true;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        var category = CharUnicodeInfo.GetUnicodeCategory(cp);
        return category is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.SpaceSeparator
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
    }

    /// <summary>Python's repr of a float: the shortest digits that round-trip, in exponent form below 1e-4 or from 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        var roundTrip = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = roundTrip.IndexOfAny(['E', 'e']);
        string mantissa = e < 0 ? roundTrip : roundTrip[..e];
        int exponent = e < 0 ? 0 : int.Parse(roundTrip[(e + 1)..], CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int point = (dot < 0 ? mantissa.Length : dot) + exponent;   // digits before the decimal point
        int leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits[leadingZeros..].TrimEnd('0');
        point -= leadingZeros;
        if (digits.Length == 0) digits = "0";
        int scientific = point - 1;
        var sb = new StringBuilder(d < 0 ? "-" : "");
        if (scientific >= -4 && scientific < 16)
        {
            if (point <= 0) sb.Append("0.").Append('0', -point).Append(digits);
            else if (point >= digits.Length) sb.Append(digits).Append('0', point - digits.Length).Append(".0");
            else sb.Append(digits, 0, point).Append('.').Append(digits, point, digits.Length - point);
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(scientific < 0 ? '-' : '+').Append(Math.Abs(scientific).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    static double AsDouble(object? v) => v switch { long i => i, double d => d, bool b => b ? 1 : 0, _ => throw new InvalidCastException() };

    /// <summary>Python's ==: 1 == 1.0 == True, lists and dicts by content.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a == null || b == null) return a == null && b == null;
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? AsDouble(a) == AsDouble(b) : AsLong(a) == AsLong(b);
        switch (a)
        {
            case string s: return b is string t && s == t;
            case List<object?> l: return b is List<object?> m && SequenceEqual(l, m);
            case object?[] x: return b is object?[] y && SequenceEqual(x, y);
            case Dictionary<object, object?> d:
                if (b is not Dictionary<object, object?> e || d.Count != e.Count) return false;
                foreach (var (k, v) in d)
                    if (!e.TryGetValue(k, out var w) || !Equal(v, w)) return false;
                return true;
            default: return ReferenceEquals(a, b);
        }
    }

    static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++) if (!Equal(a[i], b[i])) return false;
        return true;
    }

    static long AsLong(object? v) => v switch { long i => i, bool b => b ? 1 : 0, _ => throw new InvalidCastException() };

    /// <summary>Python's ordering of two values (numbers, strings, lists, tuples); TypeError otherwise.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? AsDouble(a).CompareTo(AsDouble(b)) : AsLong(a).CompareTo(AsLong(b));
        if (a is string s && b is string t) return string.CompareOrdinal(s, t) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var l = (IReadOnlyList<object?>)a; var m = (IReadOnlyList<object?>)b;
            for (int i = 0; i < Math.Min(l.Count, m.Count); i++)
                if (!Equal(l[i], m[i])) return Compare(l[i], m[i], op);
            return l.Count.CompareTo(m.Count);
        }
        if (a is Undefined u) throw u.Error();
        if (b is Undefined w) throw w.Error();
        throw new TemplateException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>A template value made of a JSON value (objects keep their order).</summary>
    public static object? FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null: return null;
            case JsonObject obj:
                var dict = NewDict();
                foreach (var (k, v) in obj) dict[k] = FromJson(v);
                return dict;
            case JsonArray arr: return arr.Select(FromJson).ToList();
            default:
                var value = node.AsValue();
                switch (value.GetValueKind())
                {
                    case System.Text.Json.JsonValueKind.String: return value.GetValue<string>();
                    case System.Text.Json.JsonValueKind.True: return true;
                    case System.Text.Json.JsonValueKind.False: return false;
                    case System.Text.Json.JsonValueKind.Null: return null;
                    case System.Text.Json.JsonValueKind.Number:
                        var text = value.ToJsonString();
                        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return i;
                        return double.Parse(text, CultureInfo.InvariantCulture);
                    default: return value.ToJsonString();
                }
        }
    }

    /// <summary>Python's json.dumps(value, ensure_ascii, indent, separators, sort_keys), as transformers' tojson filter calls it.</summary>
    public static string JsonDumps(object? value, bool ensureAscii = false, int? indent = null, (string Item, string Key)? separators = null, bool sortKeys = false)
    {
        var seps = separators ?? (indent == null ? (", ", ": ") : (",", ": "));
        var sb = new StringBuilder();
        WriteJson(sb, value, ensureAscii, indent, seps, sortKeys, 0);
        return sb.ToString();
    }

    static void WriteJson(StringBuilder sb, object? v, bool ascii, int? indent, (string Item, string Key) seps, bool sortKeys, int depth)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long i: sb.Append(i.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FloatRepr(d));
                break;
            case string s: WriteJsonString(sb, s, ascii); break;
            case List<object?> or object?[]:
                var items = (IReadOnlyList<object?>)v;
                if (items.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(seps.Item);
                    NewLine(sb, indent, depth + 1);
                    WriteJson(sb, items[i], ascii, indent, seps, sortKeys, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append(']');
                break;
            case Dictionary<object, object?> dict:
                if (dict.Count == 0) { sb.Append("{}"); break; }
                var entries = dict.ToList();
                if (sortKeys) Builtins.SortPython(entries, (x, y) => Compare(x.Key, y.Key));
                sb.Append('{');
                bool first = true;
                foreach (var (key, item) in entries)
                {
                    if (!first) sb.Append(seps.Item);
                    first = false;
                    NewLine(sb, indent, depth + 1);
                    WriteJsonString(sb, JsonKey(key), ascii);
                    sb.Append(seps.Key);
                    WriteJson(sb, item, ascii, indent, seps, sortKeys, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append('}');
                break;
            default:
                throw new TemplateException($"Object of type {TypeName(v)} is not JSON serializable");
        }
    }

    static string JsonKey(object key) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long or double => Str(key),
        _ => throw new TemplateException($"keys must be str, int, float, bool or None, not {TypeName(key)}"),
    };

    static void NewLine(StringBuilder sb, int? indent, int depth)
    {
        if (indent is int n) sb.Append('\n').Append(' ', n * depth);
    }

    static void WriteJsonString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7E)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Dict keys as Python hashes them: 1, 1.0 and True are one key.</summary>
    sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();
        public new bool Equals(object? x, object? y) => Equal(x, y);
        public int GetHashCode(object obj) => obj switch
        {
            bool b => b ? 1 : 0,
            long i => i.GetHashCode(),
            double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
            _ => obj.GetHashCode(),
        };
    }
}

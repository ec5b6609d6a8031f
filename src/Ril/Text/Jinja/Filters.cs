using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Ril.Text.Jinja;

static partial class Builtins
{
    delegate object? FilterFunction(object? value, CallArguments call);

    static readonly Dictionary<string, FilterFunction> Filters = new()
    {
        ["trim"] = (v, a) => { var chars = a.Optional(0, "chars", null); a.Done(1); return Strip(PythonValues.Str(v), chars, true, true); },
        ["length"] = (v, a) => { a.Done(0); return Length(v); },
        ["count"] = (v, a) => { a.Done(0); return Length(v); },
        ["tojson"] = ToJson,
        ["upper"] = (v, a) => { a.Done(0); return PythonValues.Str(v).ToUpperInvariant(); },
        ["lower"] = (v, a) => { a.Done(0); return PythonValues.Str(v).ToLowerInvariant(); },
        ["title"] = (v, a) => { a.Done(0); return JinjaTitle(PythonValues.Str(v)); },
        ["capitalize"] = (v, a) => { a.Done(0); var s = PythonValues.Str(v); return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(); },
        ["default"] = Default,
        ["d"] = Default,
        ["first"] = (v, a) => { a.Done(0); var items = Evaluator.Iterate(v).Take(1).ToList(); return items.Count > 0 ? items[0] : Undefined.WithHint("No first item, sequence was empty."); },
        ["last"] = (v, a) =>
        {
            a.Done(0);
            if (v is not (string or List<object?> or object?[] or Dictionary<object, object?> or Undefined))
                throw new TemplateException($"'{PythonValues.TypeName(v)}' object is not reversible");
            var items = Evaluator.Iterate(v).ToList();
            return items.Count > 0 ? items[^1] : Undefined.WithHint("No last item, sequence was empty.");
        },
        ["join"] = Join,
        ["replace"] = (v, a) =>
        {
            var old = PythonValues.Str(a.Required(0, "old"));
            var replacement = PythonValues.Str(a.Required(1, "new"));
            var count = a.Optional(2, "count", null);
            a.Done(3);
            return Replace(PythonValues.Str(v), old, replacement, count is long c ? c : -1);
        },
        ["list"] = (v, a) => { a.Done(0); return Evaluator.Iterate(v).ToList(); },
        ["string"] = (v, a) => { a.Done(0); return PythonValues.Str(v); },
        ["int"] = ToInt,
        ["float"] = ToFloat,
        ["items"] = (v, a) =>
        {
            a.Done(0);
            return v switch
            {
                Undefined => new List<object?>(),
                Dictionary<object, object?> d => d.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList(),
                _ => throw new TemplateException("Can only get item pairs from a mapping."),
            };
        },
        ["selectattr"] = (v, a) => SelectOrReject(v, a, byAttribute: true, keep: true),
        ["rejectattr"] = (v, a) => SelectOrReject(v, a, byAttribute: true, keep: false),
        ["select"] = (v, a) => SelectOrReject(v, a, byAttribute: false, keep: true),
        ["reject"] = (v, a) => SelectOrReject(v, a, byAttribute: false, keep: false),
        ["map"] = Map,
        ["unique"] = Unique,
        ["indent"] = Indent,
        ["safe"] = (v, a) => { a.Done(0); return v; },
        ["escape"] = Escape,
        ["e"] = Escape,
        ["round"] = Round,
        ["abs"] = (v, a) =>
        {
            a.Done(0);
            return v switch
            {
                long i => (object)Math.Abs(i),   // object: a long must not widen to double
                double d => Math.Abs(d),
                bool b => b ? 1L : 0L,
                _ => throw new TemplateException($"bad operand type for abs(): '{PythonValues.TypeName(v)}'"),
            };
        },
        ["sort"] = Sort,
        ["reverse"] = (v, a) =>
        {
            a.Done(0);
            return v switch
            {
                string s => string.Concat(s.EnumerateRunes().Reverse().Select(r => r.ToString())),
                List<object?> or object?[] or Dictionary<object, object?> or Undefined => Evaluator.Iterate(v).Reverse().ToList(),
                _ => throw new TemplateException("argument must be iterable"),
            };
        },
        ["batch"] = Batch,
        ["dictsort"] = DictSort,
        ["sum"] = (v, a) =>
        {
            var attribute = a.Optional(0, "attribute", null);
            object? total = a.Optional(1, "start", 0L);
            a.Done(2);
            foreach (var item in Evaluator.Iterate(v))
                total = Operators.Binary("+", total, attribute == null ? item : AttributeByPath(item, attribute));
            return total;
        },
        ["min"] = (v, a) => MinOrMax(v, a, wantMax: false),
        ["max"] = (v, a) => MinOrMax(v, a, wantMax: true),
        ["format"] = (v, a) => Operators.Binary("%", PythonValues.Str(v), a.Rest(0).ToArray()),
        ["attr"] = (v, a) => { var name = PythonValues.Str(a.Required(0, "name")); a.Done(1); return GetAttribute(v, name); },
        ["wordcount"] = (v, a) => { a.Done(0); return (long)Regex.Matches(PythonValues.Str(v), @"\w+").Count; },
        ["center"] = (v, a) => { var width = a.Optional(0, "width", 80L); a.Done(1); return StringMethod(PythonValues.Str(v), "center", new CallArguments("center", [width], new Dictionary<string, object?>())); },
    };

    public static bool HasFilter(string name) => Filters.ContainsKey(name);

    public static object? Filter(string name, object? value, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) =>
        Filters.TryGetValue(name, out var filter) ? filter(value, new CallArguments(name, args, kwargs))
            : throw new TemplateException($"No filter named '{name}' found.");   // reached only where jinja2 defers the check

    static object? Length(object? v) => v switch
    {
        string s => (long)s.EnumerateRunes().Count(),
        List<object?> l => (long)l.Count,
        object?[] t => (long)t.Length,
        Dictionary<object, object?> d => (long)d.Count,
        Namespace => throw new TemplateException("object of type 'Namespace' has no len()"),
        Undefined => 0L,
        _ => throw new TemplateException($"object of type '{PythonValues.TypeName(v)}' has no len()"),
    };

    /// <summary>transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).</summary>
    static object? ToJson(object? value, CallArguments a)
    {
        bool ensureAscii = PythonValues.Truthy(a.Optional(0, "ensure_ascii", false));
        var indent = a.Optional(1, "indent", null);
        var separators = a.Optional(2, "separators", null);
        bool sortKeys = PythonValues.Truthy(a.Optional(3, "sort_keys", false));
        a.Done(4);
        if (value is Undefined) throw new TemplateException("Object of type Undefined is not JSON serializable");
        (string, string)? seps = separators switch
        {
            null => null,
            IReadOnlyList<object?> { Count: 2 } pair => (PythonValues.Str(pair[0]), PythonValues.Str(pair[1])),
            _ => throw new TemplateException("separators must be a pair of strings"),
        };
        return PythonValues.JsonDumps(value, ensureAscii, indent switch { null => null, long n => (int)n, _ => throw new TemplateException("indent must be an int") }, seps, sortKeys);
    }

    /// <summary>jinja2's title filter: each word (split at spaces, dashes and brackets) capitalized.</summary>
    static string JinjaTitle(string s)
    {
        var parts = Regex.Split(s, @"([-\s(\{\[<]+)");
        return string.Concat(parts.Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..].ToLowerInvariant()));
    }

    static object? Default(object? value, CallArguments a)
    {
        var fallback = a.Optional(0, "default_value", "");
        bool boolean = PythonValues.Truthy(a.Optional(1, "boolean", false));
        a.Done(2);
        return value is Undefined || (boolean && !PythonValues.Truthy(value)) ? fallback : value;
    }

    static object? Join(object? value, CallArguments a)
    {
        var separator = PythonValues.Str(a.Optional(0, "d", ""));
        var attribute = a.Optional(1, "attribute", null);
        a.Done(2);
        var items = Evaluator.Iterate(value);
        if (attribute != null) items = items.Select(i => AttributeByPath(i, attribute));
        return string.Join(separator, items.Select(PythonValues.Str));
    }

    static object? ToInt(object? value, CallArguments a)
    {
        var fallback = a.Optional(0, "default", 0L);
        var numberBase = a.Optional(1, "base", 10L) is long b ? (int)b : 10;
        a.Done(2);
        switch (value)
        {
            case Undefined u: throw u.Error();
            case long or bool: return value is bool flag ? (flag ? 1L : 0L) : value;
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
                var text = s.Trim().Replace("_", "");
                try { return Convert.ToInt64(text, numberBase); } catch (FormatException) { } catch (ArgumentException) { } catch (OverflowException) { }
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) && double.IsFinite(parsed)) return (long)Math.Truncate(parsed);
                return fallback;
            default: return fallback;
        }
    }

    static object? ToFloat(object? value, CallArguments a)
    {
        var fallback = a.Optional(0, "default", 0.0);
        a.Done(1);
        return value switch
        {
            Undefined u => throw u.Error(),
            double d => d,
            long i => (double)i,
            bool b => b ? 1.0 : 0.0,
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => fallback,
        };
    }

    /// <summary>An attribute path like "a.b" or "0.name", as the attribute= arguments of filters take it.</summary>
    static object? AttributeByPath(object? item, object? path)
    {
        if (path is not string s) return GetItem(item, path);
        foreach (var part in s.Split('.'))
            item = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? GetItem(item, index) : GetItem(item, part);
        return item;
    }

    static object? SelectOrReject(object? value, CallArguments a, bool byAttribute, bool keep)
    {
        object? attribute = null;
        int next = 0;
        if (byAttribute) attribute = a.Required(next++, "attr");
        var testName = a.Optional(next++, "test", null);
        var testArgs = a.Rest(next);
        if (!PythonValues.Truthy(value)) return new List<object?>();   // jinja2 skips a falsy sequence without iterating it
        Func<object?, bool> passes = testName == null ? PythonValues.Truthy
            : v => PythonValues.Truthy(Test(PythonValues.Str(testName), v, testArgs, new Dictionary<string, object?>()));
        return Evaluator.Iterate(value).Where(item => passes(byAttribute ? AttributeByPath(item, attribute) : item) == keep).ToList();
    }

    static object? Map(object? value, CallArguments a)
    {
        if (!PythonValues.Truthy(value)) return new List<object?>();
        var attribute = a.Keyword("attribute", null);
        if (attribute != null)
        {
            var fallback = a.Keyword("default", null);
            a.Done(0);
            return Evaluator.Iterate(value).Select(item =>
            {
                var v = AttributeByPath(item, attribute);
                return v is Undefined && fallback != null ? fallback : v;
            }).ToList();
        }
        var filterName = PythonValues.Str(a.Required(0, "filter"));
        var rest = a.Rest(1);
        return Evaluator.Iterate(value).Select(item => Filter(filterName, item, rest, new Dictionary<string, object?>())).ToList();
    }

    static object? Unique(object? value, CallArguments a)
    {
        bool caseSensitive = PythonValues.Truthy(a.Optional(0, "case_sensitive", false));
        var attribute = a.Optional(1, "attribute", null);
        a.Done(2);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in Evaluator.Iterate(value))
        {
            var key = attribute == null ? item : AttributeByPath(item, attribute);
            if (!caseSensitive && key is string s) key = s.ToLowerInvariant();
            if (seen.Any(k => PythonValues.Equal(k, key))) continue;
            seen.Add(key);
            result.Add(item);
        }
        return result;
    }

    static object? Indent(object? value, CallArguments a)
    {
        var width = a.Optional(0, "width", 4L);
        bool first = PythonValues.Truthy(a.Optional(1, "first", false));
        bool blank = PythonValues.Truthy(a.Optional(2, "blank", false));
        a.Done(3);
        string indentation = width is string w ? w : new string(' ', (int)(long)width!);
        var lines = PythonSplitLines(PythonValues.Str(value) + "\n");
        string result;
        if (blank) result = string.Join("\n" + indentation, lines);
        else
        {
            result = lines[0];
            if (lines.Count > 1) result += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indentation + l : l));
        }
        return first ? indentation + result : result;
    }

    static List<string> PythonSplitLines(string s)
    {
        var lines = Regex.Split(s, "\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]").ToList();
        if (lines.Count > 1 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return lines;
    }

    static object? Escape(object? value, CallArguments a)
    {
        a.Done(0);
        return PythonValues.Str(value).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")
            .Replace("\"", "&#34;").Replace("'", "&#39;");
    }

    static object? Round(object? value, CallArguments a)
    {
        var precision = a.Optional(0, "precision", 0L) is long p ? (int)p : 0;
        var method = PythonValues.Str(a.Optional(1, "method", "common"));
        a.Done(2);
        double x = value switch { long i => i, double d => d, bool b => b ? 1 : 0, _ => throw new TemplateException($"type {PythonValues.TypeName(value)} doesn't define __round__ method") };
        if (method == "common") return value is long or bool ? (object)(long)x : RoundHalfEven(x, precision);
        double scale = Math.Pow(10, precision);
        return method switch
        {
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new TemplateException("method must be common, ceil or floor"),
        };
    }

    /// <summary>Python's round(x, digits): the double's exact value rounded half to even at that decimal digit.</summary>
    static double RoundHalfEven(double x, int digits)
    {
        if (!double.IsFinite(x) || digits > 300) return x;
        long bits = BitConverter.DoubleToInt64Bits(x);
        int exponent = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & 0xFFFFFFFFFFFFFL;
        var mantissa = new System.Numerics.BigInteger(exponent == 0 ? fraction : fraction | (1L << 52));
        int power = (exponent == 0 ? 1 : exponent) - 1075;   // |x| = mantissa * 2^power exactly
        var numerator = mantissa * System.Numerics.BigInteger.Pow(10, Math.Max(digits, 0));
        var denominator = System.Numerics.BigInteger.Pow(10, Math.Max(-digits, 0));
        if (power >= 0) numerator <<= power; else denominator <<= -power;
        var quotient = System.Numerics.BigInteger.DivRem(numerator, denominator, out var remainder);
        int half = (remainder * 2).CompareTo(denominator);
        if (half > 0 || (half == 0 && !quotient.IsEven)) quotient += 1;
        var text = quotient.ToString(CultureInfo.InvariantCulture) + "E" + (-digits).ToString(CultureInfo.InvariantCulture);
        double rounded = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        return x < 0 || (x == 0 && double.IsNegative(x)) ? -rounded : rounded;
    }

    static object? Sort(object? value, CallArguments a)
    {
        bool reverse = PythonValues.Truthy(a.Optional(0, "reverse", false));
        bool caseSensitive = PythonValues.Truthy(a.Optional(1, "case_sensitive", false));
        var attribute = a.Optional(2, "attribute", null);
        a.Done(3);
        object? Key(object? item)
        {
            var key = attribute == null ? item : AttributeByPath(item, attribute);
            return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
        }
        var entries = Evaluator.Iterate(value).Select((item, index) => (item, index, key: Key(item))).ToList();
        SortPython(entries, (x, y) =>
        {
            int c = PythonValues.Compare(x.key, y.key);
            return c != 0 ? (reverse ? -c : c) : x.index.CompareTo(y.index);
        });
        return entries.Select(e => e.item).ToList();
    }

    /// <summary>Sorts in place; a TypeError from comparing two values comes out as itself, not wrapped by List.Sort.</summary>
    internal static void SortPython<T>(List<T> items, Comparison<T> comparison)
    {
        try { items.Sort(comparison); }
        catch (InvalidOperationException e) when (e.InnerException is TemplateException inner) { throw inner; }
    }

    static object? DictSort(object? value, CallArguments a)
    {
        bool caseSensitive = PythonValues.Truthy(a.Optional(0, "case_sensitive", false));
        var by = PythonValues.Str(a.Optional(1, "by", "key"));
        bool reverse = PythonValues.Truthy(a.Optional(2, "reverse", false));
        a.Done(3);
        if (value is Undefined u) throw u.Error();
        if (value is not Dictionary<object, object?> dict) throw new TemplateException($"'{PythonValues.TypeName(value)}' object has no attribute 'items'");
        var pairs = dict.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList();
        return Sort(pairs, new CallArguments("sort", [reverse, caseSensitive, by == "value" ? 1L : 0L], new Dictionary<string, object?>()));
    }

    static object? Batch(object? value, CallArguments a)
    {
        var size = a.Required(0, "linecount") is long n && n > 0 ? (int)n : throw new TemplateException("batch size must be a positive int");
        var fill = a.Optional(1, "fill_with", null);
        a.Done(2);
        var result = new List<object?>();
        var current = new List<object?>();
        foreach (var item in Evaluator.Iterate(value))
        {
            current.Add(item);
            if (current.Count == size) { result.Add(current); current = []; }
        }
        if (current.Count > 0)
        {
            if (fill != null) while (current.Count < size) current.Add(fill);
            result.Add(current);
        }
        return result;
    }

    static object? MinOrMax(object? value, CallArguments a, bool wantMax)
    {
        bool caseSensitive = PythonValues.Truthy(a.Optional(0, "case_sensitive", false));
        var attribute = a.Optional(1, "attribute", null);
        a.Done(2);
        var items = Evaluator.Iterate(value).ToList();
        if (items.Count == 0) return Undefined.WithHint($"No aggregated item, sequence was empty.");
        object? Key(object? item)
        {
            var key = attribute == null ? item : AttributeByPath(item, attribute);
            return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
        }
        var best = items[0];
        foreach (var item in items.Skip(1))
        {
            int c = PythonValues.Compare(Key(item), Key(best), wantMax ? ">" : "<");
            if (wantMax ? c > 0 : c < 0) best = item;
        }
        return best;
    }

    // ---------------------------------------------------------------- tests

    delegate bool TestFunction(object? value, IReadOnlyList<object?> args);

    static readonly Dictionary<string, TestFunction> Tests = new()
    {
        ["defined"] = (v, _) => v is not Undefined,
        ["undefined"] = (v, _) => v is Undefined,
        ["none"] = (v, _) => v == null,
        ["boolean"] = (v, _) => v is bool,
        ["false"] = (v, _) => v is false,
        ["true"] = (v, _) => v is true,
        ["integer"] = (v, _) => v is long,
        ["float"] = (v, _) => v is double,
        ["number"] = (v, _) => v is long or double or bool,
        ["string"] = (v, _) => v is string,
        ["mapping"] = (v, _) => v is Dictionary<object, object?>,
        ["iterable"] = (v, _) => v is string or List<object?> or object?[] or Dictionary<object, object?> or Undefined,
        ["sequence"] = (v, _) => v is string or List<object?> or object?[] or Dictionary<object, object?> or Undefined,
        ["callable"] = (v, _) => v is ITemplateCallable or Undefined,
        ["sameas"] = (v, a) => SameObject(v, Arg(a, 0)),
        ["escaped"] = (_, _) => false,
        ["in"] = (v, a) => Operators.Contains(Arg(a, 0), v),
        ["odd"] = (v, _) => PythonValues.Equal(Operators.Binary("%", v, 2L), 1L),
        ["even"] = (v, _) => PythonValues.Equal(Operators.Binary("%", v, 2L), 0L),
        ["divisibleby"] = (v, a) => PythonValues.Equal(Operators.Binary("%", v, Arg(a, 0)), 0L),
        ["eq"] = (v, a) => PythonValues.Equal(v, Arg(a, 0)),
        ["equalto"] = (v, a) => PythonValues.Equal(v, Arg(a, 0)),
        ["=="] = (v, a) => PythonValues.Equal(v, Arg(a, 0)),
        ["ne"] = (v, a) => !PythonValues.Equal(v, Arg(a, 0)),
        ["!="] = (v, a) => !PythonValues.Equal(v, Arg(a, 0)),
        ["lt"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), "<") < 0,
        ["lessthan"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), "<") < 0,
        ["<"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), "<") < 0,
        ["le"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), "<=") <= 0,
        ["<="] = (v, a) => PythonValues.Compare(v, Arg(a, 0), "<=") <= 0,
        ["gt"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), ">") > 0,
        ["greaterthan"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), ">") > 0,
        [">"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), ">") > 0,
        ["ge"] = (v, a) => PythonValues.Compare(v, Arg(a, 0), ">=") >= 0,
        [">="] = (v, a) => PythonValues.Compare(v, Arg(a, 0), ">=") >= 0,
        ["lower"] = (v, _) => PythonValues.Str(v) is var s && s.Any(char.IsLetter) && !s.Any(char.IsUpper),
        ["upper"] = (v, _) => PythonValues.Str(v) is var s && s.Any(char.IsLetter) && !s.Any(char.IsLower),
        ["filter"] = (v, _) => v is string s && Filters.ContainsKey(s),
        ["test"] = (v, _) => v is string s && HasTest(s),
    };

    /// <summary>Python's "is": None, booleans, equal strings (interned) and small ints are one object each.</summary>
    static bool SameObject(object? x, object? y) => ReferenceEquals(x, y) || (x, y) switch
    {
        (null, null) => true,
        (bool p, bool q) => p == q,
        (string s, string t) => s == t,
        (long i, long j) => i == j && i is >= -5 and <= 256,
        _ => false,
    };

    static object? Arg(IReadOnlyList<object?> args, int i) =>
        i < args.Count ? args[i] : throw new TemplateException($"the test needs {i + 1} argument{(i == 0 ? "" : "s")}");

    static long Integer(object? v) => v switch
    {
        long i => i,
        bool b => b ? 1 : 0,
        double d when d == Math.Floor(d) => (long)d,
        Undefined u => throw u.Error(),
        _ => throw new TemplateException($"unsupported operand type(s) for %: '{PythonValues.TypeName(v)}' and 'int'"),
    };

    public static bool HasTest(string name) => Tests.ContainsKey(name);

    public static bool Test(string name, object? value, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) =>
        Tests.TryGetValue(name, out var test) ? test(value, args.Concat(kwargs.Values).ToList())
            : throw new TemplateException($"No test named '{name}' found.");

    // ---------------------------------------------------------------- globals

    /// <summary>jinja2's default globals: range, dict, namespace, cycler-free.</summary>
    public static IEnumerable<NativeFunction> Globals()
    {
        yield return new NativeFunction("range", (args, kwargs) =>
        {
            if (kwargs.Count > 0) throw new TemplateException("range() takes no keyword arguments");
            long[] n = args.Select(x => x is long or bool ? Integer(x) : throw new TemplateException($"'{PythonValues.TypeName(x)}' object cannot be interpreted as an integer")).ToArray();
            var (start, stop, step) = n.Length switch
            {
                1 => (0L, n[0], 1L),
                2 => (n[0], n[1], 1L),
                3 => (n[0], n[1], n[2]),
                _ => throw new TemplateException($"range expected at most 3 arguments, got {n.Length}"),
            };
            if (step == 0) throw new TemplateException("range() arg 3 must not be zero");
            var result = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                if (result.Count >= 100_000) throw new TemplateException("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
                result.Add(i);
            }
            return result;
        });
        yield return new NativeFunction("dict", (args, kwargs) =>
        {
            var d = PythonValues.NewDict();
            if (args.Count > 0 && args[0] is Dictionary<object, object?> source) foreach (var (k, v) in source) d[k] = v;
            foreach (var (k, v) in kwargs) d[k] = v;
            return d;
        });
        yield return new NativeFunction("namespace", (args, kwargs) =>
        {
            var ns = new Namespace();
            if (args.Count > 0 && args[0] is Dictionary<object, object?> source) foreach (var (k, v) in source) ns.Attributes[PythonValues.Str(k)] = v;
            foreach (var (k, v) in kwargs) ns.Attributes[k] = v;
            return ns;
        });
    }
}

using System.Text;

namespace Ril.Text.Jinja;

/// <summary>Python's arithmetic, comparison and membership operators on template values, with Python's TypeErrors.</summary>
static class Operators
{
    public static object? Unary(string op, object? value)
    {
        if (op == "not") return !PythonValues.Truthy(value);
        if (value is Undefined u) throw u.Error();
        return (op, value) switch
        {
            ("-", long i) => -i,
            ("-", double d) => -d,
            ("-", bool b) => b ? -1L : 0L,
            ("+", long or double) => value,
            ("+", bool b) => b ? 1L : 0L,
            _ => throw new TemplateException($"bad operand type for unary {op}: '{PythonValues.TypeName(value)}'"),
        };
    }

    static bool IsInteger(object? v) => v is long or bool;
    static long Int(object? v) => v is bool b ? (b ? 1 : 0) : (long)v!;
    static double Float(object? v) => v is double d ? d : Int(v);

    public static object? Binary(string op, object? a, object? b)
    {
        if (op == "%" && a is string text && b is Undefined) return PrintfFormat(text, b);   // str % x never looks at a mapping-like x
        if (a is Undefined u) throw u.Error();
        if (b is Undefined w) throw w.Error();
        bool numbers = PythonValues.IsNumber(a) && PythonValues.IsNumber(b);
        bool integers = IsInteger(a) && IsInteger(b);
        switch (op)
        {
            case "+":
                if (integers) return Int(a) + Int(b);
                if (numbers) return Float(a) + Float(b);
                if (a is string s && b is string t) return s + t;
                if (a is List<object?> l && b is List<object?> m) return l.Concat(m).ToList();
                if (a is object?[] x && b is object?[] y) return x.Concat(y).ToArray();
                if (a is string or List<object?> or object?[])
                    throw new TemplateException($"can only concatenate {PythonValues.TypeName(a)} (not \"{PythonValues.TypeName(b)}\") to {PythonValues.TypeName(a)}");
                break;
            case "-":
                if (integers) return Int(a) - Int(b);
                if (numbers) return Float(a) - Float(b);
                break;
            case "*":
                if (integers) return Int(a) * Int(b);
                if (numbers) return Float(a) * Float(b);
                if (IsInteger(b) && IsSequence(a)) return Repeat(a, Int(b));
                if (IsInteger(a) && IsSequence(b)) return Repeat(b, Int(a));
                if (IsSequence(a) || IsSequence(b))
                    throw new TemplateException($"can't multiply sequence by non-int of type '{PythonValues.TypeName(IsSequence(a) ? b : a)}'");
                break;
            case "/":
                if (numbers)
                {
                    if (Float(b) == 0) throw new TemplateException(integers ? "division by zero" : "float division by zero");
                    return Float(a) / Float(b);
                }
                break;
            case "//":
                if (integers)
                {
                    if (Int(b) == 0) throw new TemplateException("integer division or modulo by zero");
                    return FloorDivide(Int(a), Int(b));
                }
                if (numbers)
                {
                    if (Float(b) == 0) throw new TemplateException("float floor division by zero");
                    return FloatDivMod(Float(a), Float(b)).Quotient;
                }
                break;
            case "%":
                if (integers)
                {
                    if (Int(b) == 0) throw new TemplateException("integer modulo by zero");
                    return Int(a) - Int(b) * FloorDivide(Int(a), Int(b));
                }
                if (numbers)
                {
                    if (Float(b) == 0) throw new TemplateException("float modulo");
                    return FloatDivMod(Float(a), Float(b)).Remainder;
                }
                if (a is string format) return PrintfFormat(format, b);
                break;
            case "**":
                if (integers && Int(b) >= 0)
                {
                    long result = 1, baseValue = Int(a);
                    for (long e = Int(b); e > 0; e--) result = checked(result * baseValue);
                    return result;
                }
                if (numbers)
                {
                    if (Float(a) == 0 && Float(b) < 0) throw new TemplateException("0.0 cannot be raised to a negative power");
                    return Math.Pow(Float(a), Float(b));
                }
                break;
        }
        string symbol = op == "**" ? "** or pow()" : op;
        throw new TemplateException($"unsupported operand type(s) for {symbol}: '{PythonValues.TypeName(a)}' and '{PythonValues.TypeName(b)}'");
    }

    static bool IsSequence(object? v) => v is string or List<object?> or object?[];

    /// <summary>CPython's float divmod: the remainder takes the divisor's sign, the quotient is rounded to the nearest whole.</summary>
    static (double Quotient, double Remainder) FloatDivMod(double a, double b)
    {
        double mod = a % b;
        double div = (a - mod) / b;
        if (mod != 0)
        {
            if ((b < 0) != (mod < 0)) { mod += b; div -= 1.0; }
        }
        else mod = b < 0 ? -0.0 : 0.0;
        double floor = div;
        if (div != 0)
        {
            floor = Math.Floor(div);
            if (div - floor > 0.5) floor += 1.0;
        }
        else floor = a / b < 0 ? -0.0 : 0.0;
        return (floor, mod);
    }

    static long FloorDivide(long a, long b)
    {
        long q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    static object Repeat(object? sequence, long times)
    {
        int n = (int)Math.Max(0, Math.Min(times, 1_000_000));
        return sequence switch
        {
            string s => string.Concat(Enumerable.Repeat(s, n)),
            List<object?> l => Enumerable.Repeat(l, n).SelectMany(x => x).ToList(),
            _ => Enumerable.Repeat((object?[])sequence!, n).SelectMany(x => x).ToArray(),
        };
    }

    /// <summary>Python's printf-style "%s" formatting: %s, %r, %d, %i, %f and %%.</summary>
    static string PrintfFormat(string format, object? values)
    {
        var args = values is object?[] tuple ? tuple : [values];
        bool mapping = values is List<object?> or Dictionary<object, object?> or Undefined;   // Python skips the unused-argument check for these
        var sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%') { sb.Append(format[i]); continue; }
            if (++i >= format.Length) throw new TemplateException("incomplete format");
            char spec = format[i];
            if (spec == '%') { sb.Append('%'); continue; }
            if (next >= args.Length) throw new TemplateException("not enough arguments for format string");
            var arg = args[next++];
            sb.Append(spec switch
            {
                's' => PythonValues.Str(arg),
                'r' => PythonValues.Repr(arg),
                'd' or 'i' => PythonValues.IsNumber(arg) ? ((long)Math.Truncate(Float(arg))).ToString(System.Globalization.CultureInfo.InvariantCulture)
                    : throw new TemplateException($"%{spec} format: a real number is required, not {PythonValues.TypeName(arg)}"),
                'f' => Float(arg).ToString("F6", System.Globalization.CultureInfo.InvariantCulture),
                _ => throw new TemplateException($"unsupported format character '{spec}'"),
            });
        }
        if (next < args.Length && !mapping) throw new TemplateException("not all arguments converted during string formatting");
        return sb.ToString();
    }

    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => PythonValues.Equal(a, b),
        "!=" => !PythonValues.Equal(a, b),
        "<" => PythonValues.Compare(a, b, op) < 0,
        "<=" => PythonValues.Compare(a, b, op) <= 0,
        ">" => PythonValues.Compare(a, b, op) > 0,
        ">=" => PythonValues.Compare(a, b, op) >= 0,
        "in" => Contains(b, a),
        "not in" => !Contains(b, a),
        _ => throw new TemplateException($"unknown comparison {op}"),
    };

    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string t ? s.Contains(t, StringComparison.Ordinal)
            : throw new TemplateException($"'in <string>' requires string as left operand, not {PythonValues.TypeName(item)}"),
        List<object?> l => l.Any(x => PythonValues.Equal(x, item)),
        object?[] t => t.Any(x => PythonValues.Equal(x, item)),
        Dictionary<object, object?> d => item is List<object?> or Dictionary<object, object?>
            ? throw new TemplateException($"unhashable type: '{PythonValues.TypeName(item)}'")
            : item != null && item is not Undefined && d.ContainsKey(item),
        Undefined => false,
        _ => throw new TemplateException($"argument of type '{PythonValues.TypeName(container)}' is not iterable"),
    };
}

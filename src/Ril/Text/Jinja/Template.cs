using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Ril.Text.Jinja;

/// <summary>
/// A Jinja template as transformers renders chat templates: jinja2's syntax and semantics, <c>trim_blocks</c> and
/// <c>lstrip_blocks</c> on, <c>break</c>/<c>continue</c> and <c>{% generation %}</c> allowed, lists and dicts
/// read-only (the ImmutableSandboxedEnvironment), <c>tojson</c> as json.dumps with ensure_ascii off.
/// </summary>
public sealed class Template
{
    readonly List<Node> _body;
    readonly Dictionary<string, object?> _globals = new();

    /// <summary>The name errors give (the file the template came from).</summary>
    public string Name { get; }

    Template(List<Node> body, string name)
    {
        _body = body;
        Name = name;
        foreach (var function in Builtins.Globals()) _globals[function.Name] = function;
    }

    /// <summary>Parses <paramref name="source"/>; a syntax error is a <see cref="TemplateException"/> naming <paramref name="name"/> and the line.</summary>
    public static Template Parse(string source, string name = "<template>")
    {
        try { return new Template(Parser.Parse(source), name); }
        catch (TemplateException e) { throw e.Locate(0, name); }
    }

    /// <summary>Adds a global function or value (as transformers adds raise_exception and strftime_now).</summary>
    public void AddGlobal(string name, object? value) => _globals[name] = value;

    /// <summary>Renders with <paramref name="variables"/> (template values: see <see cref="PythonValues"/>).</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var globals = new Scope(null);
        foreach (var (key, value) in _globals) globals.Set(key, value);
        var context = new Scope(globals);
        foreach (var (key, value) in variables) context.Set(key, value);
        try { return new Evaluator(Name).Render(_body, new Scope(context)); }
        catch (TemplateException e) { throw e.Locate(0, Name); }
    }

    /// <summary>Renders with the members of a JSON object as variables.</summary>
    public string Render(JsonObject variables) =>
        Render(variables.ToDictionary(p => p.Key, p => PythonValues.FromJson(p.Value)));

    /// <summary>The global <c>raise_exception(message)</c> of transformers: fails the render with the template's message.</summary>
    public static NativeFunction RaiseException { get; } = new("raise_exception", (args, _) =>
        throw new TemplateException(args.Count > 0 ? PythonValues.Str(args[0]) : "", raisedByTemplate: true));

    /// <summary>The global <c>strftime_now(format)</c> of transformers: the time <paramref name="clock"/> gives, formatted as Python's strftime does.</summary>
    public static NativeFunction StrftimeNow(Func<DateTime> clock) => new("strftime_now", (args, _) =>
        Strftime(clock(), args.Count > 0 ? PythonValues.Str(args[0]) : throw new TemplateException("strftime_now() missing required argument 'format'")));

    /// <summary>Python's time.strftime for the directives chat templates use (%d %b %Y %B %m %H %M %S ...; %-d unpadded).</summary>
    public static string Strftime(DateTime time, string format)
    {
        var invariant = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            bool unpadded = format[i + 1] == '-' && i + 2 < format.Length;
            char directive = format[unpadded ? i + 2 : i + 1];
            i += unpadded ? 2 : 1;
            string Number(int value, int width) => unpadded ? value.ToString(invariant) : value.ToString(new string('0', width), invariant);
            sb.Append(directive switch
            {
                'Y' => time.Year.ToString(invariant),
                'y' => Number(time.Year % 100, 2),
                'm' => Number(time.Month, 2),
                'd' => Number(time.Day, 2),
                'e' => time.Day.ToString(invariant).PadLeft(2),
                'H' => Number(time.Hour, 2),
                'I' => Number(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'j' => Number(time.DayOfYear, 3),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'B' => time.ToString("MMMM", invariant),
                'b' or 'h' => time.ToString("MMM", invariant),
                'A' => time.ToString("dddd", invariant),
                'a' => time.ToString("ddd", invariant),
                'F' => time.ToString("yyyy-MM-dd", invariant),
                'T' => time.ToString("HH:mm:ss", invariant),
                '%' => "%",
                _ => "%" + (unpadded ? "-" : "") + directive,
            });
        }
        return sb.ToString();
    }
}

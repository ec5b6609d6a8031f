namespace Ril.Text.Jinja;

/// <summary>
/// A chat template failed to parse or to render. <see cref="Reason"/> is the message jinja2 would give
/// (for <c>raise_exception</c>, the template's own text); <see cref="Exception.Message"/> adds the
/// template's name and line.
/// </summary>
public sealed class TemplateException : Exception
{
    public string Reason { get; }
    public string? TemplateName { get; }
    /// <summary>1-based line of the statement or expression that failed; 0 when unknown.</summary>
    public int Line { get; }
    /// <summary>True for <c>raise_exception(...)</c> calls, false for syntax and runtime errors.</summary>
    public bool RaisedByTemplate { get; }

    public TemplateException(string reason, int line = 0, string? templateName = null, bool raisedByTemplate = false)
        : base(Describe(reason, line, templateName))
    {
        Reason = reason;
        Line = line;
        TemplateName = templateName;
        RaisedByTemplate = raisedByTemplate;
    }

    static string Describe(string reason, int line, string? name) =>
        (name, line) switch
        {
            (null, 0) => reason,
            (null, _) => $"line {line}: {reason}",
            (_, 0) => $"{name}: {reason}",
            _ => $"{name}, line {line}: {reason}",
        };

    /// <summary>The same error with a line (kept if already known) and the template's name.</summary>
    internal TemplateException Locate(int line, string? templateName) =>
        new(Reason, Line != 0 ? Line : line, TemplateName ?? templateName, RaisedByTemplate);
}

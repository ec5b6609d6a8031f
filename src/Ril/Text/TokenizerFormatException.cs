namespace Ril.Text;

/// <summary>
/// A tokenizer file that cannot be used, with the file and the JSON field at fault
/// ("tokenizer.json: field 'model.merges[12]': ..."). It is an <see cref="IOException"/> so that
/// callers who report unreadable files to the user (the CLI) report this one the same way.
/// </summary>
public sealed class TokenizerFormatException : IOException
{
    public string File { get; }
    public string? Field { get; }

    public TokenizerFormatException(string file, string? field, string problem, Exception? inner = null)
        : base($"{Path.GetFileName(file)}: {(field != null ? $"field '{field}': " : "")}{problem}", inner)
    {
        File = file; Field = field;
    }
}

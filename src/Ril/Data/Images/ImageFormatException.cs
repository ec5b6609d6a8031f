namespace Ril.Data.Images;

/// <summary>
/// A file that is not a valid image of the format it claims (truncated, corrupt, unsupported), or a
/// format Ril cannot read here. The message says which file (when known) and what is wrong.
/// </summary>
public sealed class ImageFormatException : Exception
{
    public ImageFormatException(string message, Exception? inner = null) : base(message, inner) { }

    internal ImageFormatException WithFile(string path) => new($"{path}: {Message}", InnerException);
}

using System.Text;

namespace Ril.Rewards;

/// <summary>
/// Appends JSON lines to a file that a crash must not corrupt: each line goes out in one write and is
/// flushed before <see cref="Append"/> returns, so a killed run leaves whole lines plus at most one torn
/// last line, which <see cref="RepairTornLastLine"/> removes before the file is read again. Thread-safe.
/// </summary>
public sealed class JsonlAppender : IDisposable
{
    readonly FileStream _stream;
    readonly object _gate = new();

    public string Path { get; }

    public JsonlAppender(string path)
    {
        Path = path;
        if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    public void Append(string jsonLine)
    {
        if (jsonLine.Contains('\n')) throw new ArgumentException("a JSON line must not contain a newline", nameof(jsonLine));
        var bytes = Encoding.UTF8.GetBytes(jsonLine + "\n");
        lock (_gate)
        {
            _stream.Write(bytes);
            _stream.Flush();
        }
    }

    /// <summary>
    /// Cuts a last line that has no newline (a write cut off by a crash) and returns how many bytes were cut.
    /// A file that does not exist, or ends with a newline, is left alone.
    /// </summary>
    public static long RepairTornLastLine(string path)
    {
        if (!File.Exists(path)) return 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        if (stream.Length == 0) return 0;
        stream.Seek(-1, SeekOrigin.End);
        if (stream.ReadByte() == '\n') return 0;
        // Walk back to the previous newline in blocks.
        long end = stream.Length, position = end;
        var block = new byte[4096];
        while (position > 0)
        {
            int count = (int)Math.Min(block.Length, position);
            position -= count;
            stream.Seek(position, SeekOrigin.Begin);
            stream.ReadExactly(block, 0, count);
            int newline = Array.LastIndexOf(block, (byte)'\n', count - 1, count);
            if (newline >= 0)
            {
                stream.SetLength(position + newline + 1);
                return end - (position + newline + 1);
            }
        }
        stream.SetLength(0);
        return end;
    }

    public void Dispose()
    {
        lock (_gate) _stream.Dispose();
    }
}

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
    /// Makes a JSON-lines file whole again after a crash: a last line without its newline is kept (newline added) when it
    /// is a complete JSON object, and cut when it is torn; returns the bytes cut. A file that does not exist, is empty or
    /// ends with a newline is left alone. A file that is not JSON lines (its first line is no JSON object: a config.json,
    /// a safetensors file …) is never modified: that is an <see cref="InvalidDataException"/> naming it — unless
    /// <paramref name="ownFile"/> says Ril wrote the file itself (a run's metrics), where a lone torn line is cut too.
    /// </summary>
    public static long RepairTornLastLine(string path, bool ownFile = false)
    {
        if (!File.Exists(path)) return 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        if (stream.Length == 0) return 0;
        stream.Seek(-1, SeekOrigin.End);
        if (stream.ReadByte() == '\n') return 0;
        long lastStart = LastLineStart(stream);
        if (lastStart == 0)
        {
            // One line and no newline: a record that lost only its newline, or not a JSON-lines file at all.
            if (IsJsonObject(ReadRange(stream, 0, stream.Length))) { stream.Seek(0, SeekOrigin.End); stream.WriteByte((byte)'\n'); return 0; }
            if (!ownFile) throw NotJsonLines(path);
        }
        else if (!ownFile && !IsJsonObject(ReadRange(stream, 0, FirstLineEnd(stream)))) throw NotJsonLines(path);
        if (IsJsonObject(ReadRange(stream, lastStart, stream.Length - lastStart)))
        {
            stream.Seek(0, SeekOrigin.End);
            stream.WriteByte((byte)'\n');
            return 0;
        }
        long cut = stream.Length - lastStart;
        stream.SetLength(lastStart);
        return cut;
    }

    static InvalidDataException NotJsonLines(string path) =>
        new($"{path}: not a JSON-lines file (its first line is not a JSON object); Ril leaves it as it is: is this the right path?");

    /// <summary>Lines longer than this are not records Ril wrote.</summary>
    const int LongestLine = 64 << 20;

    static byte[] ReadRange(FileStream stream, long start, long count)
    {
        if (count > LongestLine) return [];
        var bytes = new byte[count];
        stream.Seek(start, SeekOrigin.Begin);
        stream.ReadExactly(bytes);
        return bytes;
    }

    static bool IsJsonObject(byte[] line)
    {
        try { return System.Text.Json.Nodes.JsonNode.Parse(line) is System.Text.Json.Nodes.JsonObject; }
        catch (System.Text.Json.JsonException) { return false; }
    }

    /// <summary>Offset just past the last newline (0 when there is none), walking back in blocks.</summary>
    static long LastLineStart(FileStream stream)
    {
        var block = new byte[4096];
        for (long position = stream.Length; position > 0;)
        {
            int count = (int)Math.Min(block.Length, position);
            position -= count;
            stream.Seek(position, SeekOrigin.Begin);
            stream.ReadExactly(block, 0, count);
            int newline = Array.LastIndexOf(block, (byte)'\n', count - 1, count);
            if (newline >= 0) return position + newline + 1;
        }
        return 0;
    }

    /// <summary>Offset of the first newline (the file has one).</summary>
    static long FirstLineEnd(FileStream stream)
    {
        var block = new byte[4096];
        stream.Seek(0, SeekOrigin.Begin);
        for (long position = 0; ; position += block.Length)
        {
            int count = stream.Read(block, 0, block.Length);
            int newline = Array.IndexOf(block, (byte)'\n', 0, count);
            if (newline >= 0) return position + newline;
            if (count == 0 || position > LongestLine) return stream.Length;
        }
    }

    public void Dispose()
    {
        lock (_gate) _stream.Dispose();
    }
}

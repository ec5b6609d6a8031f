using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Ril.Tensors.IO;

/// <summary>One named tensor of a safetensors file, as float32.</summary>
public sealed record SafeTensorEntry(string Name, int[] Shape, float[] Data);

/// <summary>The contents of a safetensors file.</summary>
public sealed record SafeTensorFile(IReadOnlyList<SafeTensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    public SafeTensorEntry this[string name] => Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"no tensor named '{name}'");
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the raw little-endian data.
/// F32, F16 and BF16 are read into float32; writing is F32, atomic (temporary file, then rename).
/// </summary>
public static class SafeTensors
{
    public static SafeTensorFile Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new InvalidDataException($"{path}: cannot read ({e.Message})", e); }
        return Parse(bytes, path);
    }

    public static SafeTensorFile Parse(ReadOnlySpan<byte> bytes, string source)
    {
        var (entries, meta, dataStart) = Header(bytes, bytes.Length, source);
        var tensors = new List<SafeTensorEntry>();
        foreach (var e in entries)
        {
            var values = new float[e.Count];
            Decode(bytes.Slice((int)(dataStart + e.Offset), (int)e.Bytes), e.Dtype, values);
            tensors.Add(new SafeTensorEntry(e.Name, e.Shape, values));
        }
        return new SafeTensorFile(tensors, meta);
    }

    /// <summary>The file opened for reading tensor by tensor (<see cref="SafeTensorsReader"/>), its header checked. Dispose when done.</summary>
    public static SafeTensorsReader Open(string path)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        long length;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            length = RandomAccess.GetLength(handle);
        }
        catch (IOException e) { throw new InvalidDataException($"{path}: cannot read ({e.Message})", e); }
        if (length < 8) { handle.Dispose(); throw new InvalidDataException($"{path}: too short for a safetensors file ({length} bytes)"); }
        try { return new SafeTensorsReader(path, handle, length); }
        catch { handle.Dispose(); throw; }
    }

    /// <summary>Where one tensor lies in a file's data section, as its header says (checked against the data length).</summary>
    internal sealed record RawEntry(string Name, string Dtype, int[] Shape, long Offset, long Bytes, int Count);

    /// <summary>The header of a file whose first bytes are <paramref name="bytes"/> (at least the header) and whose length is
    /// <paramref name="fileLength"/>: its entries, metadata and where the data section starts.</summary>
    internal static (List<RawEntry> Entries, Dictionary<string, string> Meta, long DataStart) Header(ReadOnlySpan<byte> bytes, long fileLength, string source)
    {
        if (fileLength < 8 || bytes.Length < 8) throw new InvalidDataException($"{source}: too short for a safetensors file ({fileLength} bytes)");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > (ulong)(fileLength - 8) || headerLen > (ulong)(bytes.Length - 8)) throw new InvalidDataException($"{source}: header length {headerLen} exceeds the file size {fileLength}");
        long dataStart = 8 + (long)headerLen;
        using var doc = ParseHeader(bytes.Slice(8, (int)headerLen), source);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: the header is not a JSON object");
        var entries = new List<RawEntry>();
        var meta = new Dictionary<string, string>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: '__metadata__' is not an object of strings");
                foreach (var m in prop.Value.EnumerateObject())
                    meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new InvalidDataException($"{source}: '__metadata__.{m.Name}' is not a string");
                continue;
            }
            string where = $"{source}: tensor '{prop.Name}'";
            if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where}: expected an object with dtype, shape and data_offsets");
            string dtype = prop.Value.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! : throw new InvalidDataException($"{where}: field 'dtype' is missing or not a string");
            var shape = Integers(prop.Value, "shape", where).Select(d => d is >= 0 and <= int.MaxValue ? (int)d : throw new InvalidDataException($"{where}: field 'shape' has the dimension {d}")).ToArray();
            var offs = Integers(prop.Value, "data_offsets", where);
            long count = 1;
            foreach (var d in shape) count = count * d is var c && c <= int.MaxValue ? c : throw new InvalidDataException($"{where}: shape {ShapeOf.Format(shape)} has more than {int.MaxValue} values");
            int width = dtype switch { "F32" => 4, "F16" or "BF16" => 2, _ => throw new InvalidDataException($"{where}: dtype {dtype} is not supported (F32, F16, BF16)") };
            long dataLength = fileLength - dataStart;
            if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLength || offs[1] - offs[0] != count * width)
                throw new InvalidDataException($"{where}: data_offsets [{string.Join(", ", offs)}] do not hold {ShapeOf.Format(shape)} of {dtype} within the {dataLength} data bytes");
            entries.Add(new RawEntry(prop.Name, dtype, shape, offs[0], count * width, (int)count));
        }
        return (entries, meta, dataStart);
    }

    /// <summary>An array of integers under <paramref name="field"/>, or an error naming the field.</summary>
    static long[] Integers(JsonElement entry, string field, string where)
    {
        if (!entry.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where}: field '{field}' is missing or not an array");
        return array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) ? v
            : throw new InvalidDataException($"{where}: field '{field}' holds {e.GetRawText()}, not an integer")).ToArray();
    }

    static JsonDocument ParseHeader(ReadOnlySpan<byte> header, string source)
    {
        try { return JsonDocument.Parse(header.ToArray()); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: the header is not valid JSON ({e.Message})", e); }
    }

    /// <summary>Values of <paramref name="dtype"/> (F32, F16, BF16; little-endian) widened into float32.</summary>
    internal static void Decode(ReadOnlySpan<byte> raw, string dtype, Span<float> result)
    {
        switch (dtype)
        {
            case "F32":
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(result);   // little-endian machine
                break;
            case "F16":
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < halves.Length; i++) result[i] = (float)halves[i];
                break;
            case "BF16":
                Kernels.BFloat16.Decode(MemoryMarshal.Cast<byte, ushort>(raw), result);   // bf16 is the top half of f32
                break;
        }
    }

    /// <param name="bf16">write the tensors as BF16 (rounded to nearest even) instead of F32</param>
    public static void Write(string path, IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null, bool bf16 = false)
    {
        int width = bf16 ? 2 : 4;
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in tensors)
        {
            if (t.Data.Length != ShapeOf.Count(t.Shape)) throw new ArgumentException($"SafeTensors.Write: '{t.Name}' has {t.Data.Length} values for shape {ShapeOf.Format(t.Shape)}");
            header[t.Name] = new Dictionary<string, object> { ["dtype"] = bf16 ? "BF16" : "F32", ["shape"] = t.Shape, ["data_offsets"] = new[] { offset, offset + width * (long)t.Data.Length } };
            offset += width * (long)t.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int pad = (8 - json.Length % 8) % 8;   // keep the data 8-byte aligned, as the reference writer does
        var headerBytes = new byte[json.Length + pad];
        json.CopyTo(headerBytes, 0);
        headerBytes.AsSpan(json.Length).Fill((byte)' ');

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
            stream.Write(len);
            stream.Write(headerBytes);
            foreach (var t in tensors)
                if (!bf16) stream.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
                else
                {
                    var words = new ushort[t.Data.Length];
                    Kernels.BFloat16.Encode(t.Data, words);
                    stream.Write(MemoryMarshal.AsBytes(words.AsSpan()));
                }
        });
    }
}

/// <summary>
/// A safetensors file opened for reads at the offsets its header gives (<see cref="SafeTensors.Open"/>): each tensor is
/// read straight into the buffer that keeps it (BF16 and F16 through a small staging chunk when widened), so loading a
/// model holds no second copy of its weights, not even the page cache's in its resident memory as a mapping would.
/// </summary>
public sealed class SafeTensorsReader : IDisposable
{
    readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;
    readonly long _dataStart;
    readonly Dictionary<string, SafeTensors.RawEntry> _entries;
    public string Path { get; }

    internal SafeTensorsReader(string path, Microsoft.Win32.SafeHandles.SafeFileHandle handle, long length)
    {
        Path = path;
        _handle = handle;
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(prefix, 0);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLen > (ulong)(length - 8) || headerLen > 100_000_000) throw new InvalidDataException($"{path}: header length {headerLen} exceeds the file size {length}");
        var head = new byte[8 + (int)headerLen];
        ReadExactly(head, 0);
        var (entries, _, dataStart) = SafeTensors.Header(head, length, path);
        _dataStart = dataStart;
        _entries = entries.ToDictionary(e => e.Name);
    }

    public IEnumerable<string> Names => _entries.Keys;
    public int[] Shape(string name) => _entries[name].Shape;
    public string Dtype(string name) => _entries[name].Dtype;

    /// <summary>The tensor's values widened to float32 into <paramref name="destination"/> (its length).</summary>
    public void Read(string name, Span<float> destination)
    {
        var e = _entries[name];
        var dst = destination[..e.Count];
        if (e.Dtype == "F32") { ReadExactly(MemoryMarshal.AsBytes(dst), _dataStart + e.Offset); return; }
        const int ChunkValues = 1 << 20;
        var staging = System.Buffers.ArrayPool<byte>.Shared.Rent(2 * Math.Min(ChunkValues, Math.Max(1, e.Count)));
        try
        {
            for (int first = 0; first < e.Count; first += ChunkValues)
            {
                int count = Math.Min(ChunkValues, e.Count - first);
                var raw = staging.AsSpan(0, 2 * count);
                ReadExactly(raw, _dataStart + e.Offset + 2L * first);
                SafeTensors.Decode(raw, e.Dtype, dst.Slice(first, count));
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(staging); }
    }

    /// <summary>A BF16 tensor's words as the file holds them (no rounding), in a new array.</summary>
    public ushort[] ReadBf16(string name)
    {
        var e = _entries[name];
        if (e.Dtype != "BF16") throw new InvalidOperationException($"{Path}: tensor '{name}' is {e.Dtype}, not BF16");
        var words = GC.AllocateUninitializedArray<ushort>(e.Count);
        ReadExactly(MemoryMarshal.AsBytes(words.AsSpan()), _dataStart + e.Offset);
        return words;
    }

    void ReadExactly(Span<byte> destination, long offset)
    {
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n <= 0) throw new InvalidDataException($"{Path}: the file ends before byte {offset + destination.Length}");
            destination = destination[n..];
            offset += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}

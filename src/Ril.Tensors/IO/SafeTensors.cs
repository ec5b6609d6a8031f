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
        if (bytes.Length < 8) throw new InvalidDataException($"{source}: too short for a safetensors file ({bytes.Length} bytes)");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > (ulong)(bytes.Length - 8)) throw new InvalidDataException($"{source}: header length {headerLen} exceeds the file size {bytes.Length}");
        var dataStart = 8 + (int)headerLen;
        using var doc = ParseHeader(bytes.Slice(8, (int)headerLen), source);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: the header is not a JSON object");
        var tensors = new List<SafeTensorEntry>();
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
            long dataLength = bytes.Length - dataStart;
            if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLength || offs[1] - offs[0] != count * width)
                throw new InvalidDataException($"{where}: data_offsets [{string.Join(", ", offs)}] do not hold {ShapeOf.Format(shape)} of {dtype} within the {dataLength} data bytes");
            var raw = bytes.Slice(dataStart + (int)offs[0], (int)count * width);
            tensors.Add(new SafeTensorEntry(prop.Name, shape, Decode(raw, dtype, (int)count)));
        }
        return new SafeTensorFile(tensors, meta);
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

    static float[] Decode(ReadOnlySpan<byte> raw, string dtype, int count)
    {
        var result = new float[count];
        switch (dtype)
        {
            case "F32":
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(result);   // little-endian machine
                break;
            case "F16":
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < count; i++) result[i] = (float)halves[i];
                break;
            case "BF16":
                var words = MemoryMarshal.Cast<byte, ushort>(raw);
                for (int i = 0; i < count; i++) result[i] = BitConverter.Int32BitsToSingle(words[i] << 16);   // bf16 is the top half of f32
                break;
        }
        return result;
    }

    public static void Write(string path, IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in tensors)
        {
            if (t.Data.Length != ShapeOf.Count(t.Shape)) throw new ArgumentException($"SafeTensors.Write: '{t.Name}' has {t.Data.Length} values for shape {ShapeOf.Format(t.Shape)}");
            header[t.Name] = new Dictionary<string, object> { ["dtype"] = "F32", ["shape"] = t.Shape, ["data_offsets"] = new[] { offset, offset + 4L * t.Data.Length } };
            offset += 4L * t.Data.Length;
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
            foreach (var t in tensors) stream.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
        });
    }
}

using System.Text;

namespace Ril.Tests.Export;

/// <summary>A tensor of a GGUF file: dims as stored (innermost first), ggml type, data offset from the data section.</summary>
public sealed record GgufTensorInfo(string Name, ulong[] Dims, uint Type, ulong Offset)
{
    /// <summary>The row-major (PyTorch) shape: the stored dims reversed.</summary>
    public int[] Shape => Dims.Reverse().Select(d => checked((int)d)).ToArray();
    public long Count => Dims.Aggregate(1L, (a, d) => a * (long)d);
}

/// <summary>
/// A GGUF v3 reader written from the format's description (docs/spec/GGUF.md), independently of Ril's writer, to check
/// what the exporter writes: header, metadata (every value type), tensor table, aligned data; F32, F16 and BF16 tensors.
/// Anything out of place is an error naming the file and the field.
/// </summary>
public sealed class GgufReader
{
    public string Path { get; }
    public uint Version { get; }
    public int Alignment { get; }
    /// <summary>Metadata in file order; values are uint/int/float/bool/string as C# values, arrays as object[].</summary>
    public IReadOnlyList<KeyValuePair<string, object>> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    public long DataStart { get; }
    readonly byte[] _bytes;

    public GgufReader(string path)
    {
        Path = path;
        _bytes = File.ReadAllBytes(path);
        int pos = 0;
        if (_bytes.Length < 24 || Encoding.ASCII.GetString(_bytes, 0, 4) != "GGUF") throw new InvalidDataException($"{path}: no GGUF magic");
        _ = U32(ref pos, "magic");
        Version = U32(ref pos, "version");
        if (Version != 3) throw new InvalidDataException($"{path}: version {Version}, expected 3");
        ulong tensorCount = U64(ref pos, "tensor_count"), kvCount = U64(ref pos, "metadata_kv_count");
        var metadata = new List<KeyValuePair<string, object>>();
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = Str(ref pos, $"metadata[{i}].key");
            uint type = U32(ref pos, key + ".type");
            metadata.Add(new(key, Value(ref pos, type, key)));
        }
        Metadata = metadata;
        Alignment = metadata.FirstOrDefault(kv => kv.Key == "general.alignment").Value is uint a ? (int)a : 32;
        var tensors = new List<GgufTensorInfo>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = Str(ref pos, $"tensor[{i}].name");
            uint nDims = U32(ref pos, name + ".n_dimensions");
            if (nDims is 0 or > 4) throw new InvalidDataException($"{path}: tensor '{name}' has {nDims} dimensions");
            var dims = new ulong[nDims];
            for (int d = 0; d < nDims; d++) dims[d] = U64(ref pos, $"{name}.dimensions[{d}]");
            uint type = U32(ref pos, name + ".type");
            ulong offset = U64(ref pos, name + ".offset");
            if (offset % (ulong)Alignment != 0) throw new InvalidDataException($"{path}: tensor '{name}' offset {offset} is not a multiple of {Alignment}");
            tensors.Add(new GgufTensorInfo(name, dims, type, offset));
        }
        Tensors = tensors;
        DataStart = (pos + Alignment - 1) / Alignment * Alignment;
        foreach (var t in tensors)
            if (DataStart + (long)t.Offset + t.Count * ElementBytes(t.Type, t.Name) > _bytes.Length)
                throw new InvalidDataException($"{path}: tensor '{t.Name}' runs past the end of the file");
    }

    public object this[string key] => Metadata.FirstOrDefault(kv => kv.Key == key).Value ?? throw new KeyNotFoundException($"{Path}: no metadata key '{key}'");
    public bool Has(string key) => Metadata.Any(kv => kv.Key == key);
    public GgufTensorInfo Tensor(string name) => Tensors.FirstOrDefault(t => t.Name == name) ?? throw new KeyNotFoundException($"{Path}: no tensor '{name}'");

    /// <summary>A tensor's values widened to float32.</summary>
    public float[] Read(GgufTensorInfo t)
    {
        var span = _bytes.AsSpan((int)(DataStart + (long)t.Offset));
        var result = new float[t.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = t.Type switch
            {
                0 => BitConverter.ToSingle(span.Slice(4 * i, 4)),
                1 => (float)BitConverter.ToHalf(span.Slice(2 * i, 2)),
                30 => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(span.Slice(2 * i, 2)) << 16),
                _ => throw new InvalidDataException($"{Path}: tensor '{t.Name}' has ggml type {t.Type}, which this reader does not read"),
            };
        return result;
    }

    int ElementBytes(uint type, string name) => type switch
    {
        0 => 4, 1 or 30 => 2,
        _ => throw new InvalidDataException($"{Path}: tensor '{name}' has ggml type {type}, which this reader does not read"),
    };

    void Need(int pos, int n, string field)
    {
        if (pos + n > _bytes.Length) throw new InvalidDataException($"{Path}: the file ends inside '{field}'");
    }

    uint U32(ref int pos, string field) { Need(pos, 4, field); var v = BitConverter.ToUInt32(_bytes, pos); pos += 4; return v; }
    ulong U64(ref int pos, string field) { Need(pos, 8, field); var v = BitConverter.ToUInt64(_bytes, pos); pos += 8; return v; }

    string Str(ref int pos, string field)
    {
        ulong n = U64(ref pos, field);
        if (n > int.MaxValue) throw new InvalidDataException($"{Path}: '{field}' has length {n}");
        Need(pos, (int)n, field);
        var s = Encoding.UTF8.GetString(_bytes, pos, (int)n);
        pos += (int)n;
        return s;
    }

    object Value(ref int pos, uint type, string field)
    {
        int size = type switch { 0 or 1 or 7 => 1, 2 or 3 => 2, 4 or 5 or 6 => 4, 10 or 11 or 12 => 8, _ => 0 };
        int p = pos;
        if (size > 0)
        {
            Need(pos, size, field);
            pos += size;
        }
        switch (type)
        {
            case 0: return _bytes[p];
            case 1: return (sbyte)_bytes[p];
            case 2: return BitConverter.ToUInt16(_bytes, p);
            case 3: return BitConverter.ToInt16(_bytes, p);
            case 4: return BitConverter.ToUInt32(_bytes, p);
            case 5: return BitConverter.ToInt32(_bytes, p);
            case 6: return BitConverter.ToSingle(_bytes, p);
            case 7: return _bytes[p] switch { 0 => false, 1 => true, var b => throw new InvalidDataException($"{Path}: '{field}' is a bool of value {b}") };
            case 8: return Str(ref pos, field);
            case 9:
                uint itemType = U32(ref pos, field + ".item_type");
                ulong count = U64(ref pos, field + ".count");
                if (count > (ulong)_bytes.Length) throw new InvalidDataException($"{Path}: '{field}' claims {count} items");
                var items = new object[count];
                for (ulong i = 0; i < count; i++) items[i] = Value(ref pos, itemType, $"{field}[{i}]");
                return items;
            case 10: return BitConverter.ToUInt64(_bytes, p);
            case 11: return BitConverter.ToInt64(_bytes, p);
            case 12: return BitConverter.ToDouble(_bytes, p);
            default: throw new InvalidDataException($"{Path}: '{field}' has value type {type}, not one of the spec's 0–12");
        }
    }
}

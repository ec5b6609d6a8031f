using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Ril.Tensors.IO;
using Ril.Tensors.Kernels;

namespace Ril.Export;

/// <summary>The element types a GGUF tensor is written in (ggml's type numbers).</summary>
public enum GgufTensorType : uint { F32 = 0, F16 = 1, BF16 = 30 }

/// <summary>
/// A GGUF v3 file (docs/spec/GGUF.md) assembled in memory and written at once: the header, typed metadata in the order
/// it was added, the tensor table, then the tensors' data, each aligned to <see cref="Alignment"/> bytes.
/// </summary>
public sealed class GgufWriter
{
    public const uint Magic = 0x46554747;   // "GGUF" read as a little-endian uint32
    public const uint Version = 3;
    public const int Alignment = 32;

    /// <summary>Metadata value types, numbered as the spec numbers them.</summary>
    public enum ValueType : uint { UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12 }

    readonly List<(string Key, Action<BinaryWriter> Write)> _metadata = [];
    readonly HashSet<string> _keys = [];
    readonly List<(string Name, long[] Dims, GgufTensorType Type, long Count, Func<float[]> Data)> _tensors = [];

    public IReadOnlyList<string> Keys => _metadata.Select(m => m.Key).ToList();

    void Add(string key, ValueType type, Action<BinaryWriter> value)
    {
        if (!_keys.Add(key)) throw new ArgumentException($"GGUF: metadata key '{key}' is set twice");
        _metadata.Add((key, w => { w.Write((uint)type); value(w); }));
    }

    public void UInt32(string key, uint value) => Add(key, ValueType.UInt32, w => w.Write(value));
    public void Float32(string key, float value) => Add(key, ValueType.Float32, w => w.Write(value));
    public void Bool(string key, bool value) => Add(key, ValueType.Bool, w => w.Write((byte)(value ? 1 : 0)));
    public void String(string key, string value) => Add(key, ValueType.String, w => WriteString(w, value));

    public void Strings(string key, IReadOnlyList<string> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.String);
        w.Write((ulong)values.Count);
        foreach (var v in values) WriteString(w, v);
    });

    public void Int32s(string key, IReadOnlyList<int> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    public void Bools(string key, IReadOnlyList<bool> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Bool);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write((byte)(v ? 1 : 0));
    });

    public void Float32s(string key, IReadOnlyList<float> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Float32);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    /// <summary>
    /// A tensor of <paramref name="shape"/> in row-major (PyTorch) order, stored as <paramref name="type"/>. GGUF lists
    /// dimensions innermost first, so the shape is written reversed. <paramref name="data"/> is called once, when the
    /// file is written, so that only one tensor's values are held at a time.
    /// </summary>
    public void Tensor(string name, int[] shape, Func<float[]> data, GgufTensorType type)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"GGUF: tensor '{name}' is added twice");
        if (Encoding.UTF8.GetByteCount(name) >= 64) throw new ArgumentException($"GGUF: tensor name '{name}' is 64 bytes or longer");
        _tensors.Add((name, shape.Reverse().Select(d => (long)d).ToArray(), type, shape.Aggregate(1L, (a, d) => a * d), data));
    }

    static int ElementBytes(GgufTensorType type) => type == GgufTensorType.F32 ? 4 : 2;

    static long Padded(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    /// <summary>Writes the file atomically: a reader sees the old file or the whole new one.</summary>
    public void Write(string path) => AtomicFile.Write(path, stream =>
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, write) in _metadata)
        {
            WriteString(w, key);
            write(w);
        }
        long offset = 0;
        foreach (var (name, dims, type, count, _) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offset = Padded(offset + count * ElementBytes(type));
        }
        w.Flush();
        Pad(stream);
        var buffer = new byte[1 << 20];
        foreach (var (name, _, type, count, data) in _tensors)
        {
            var values = data();
            if (values.Length != count) throw new InvalidOperationException($"GGUF: tensor '{name}' has {values.Length} values, its shape {count}");
            WriteData(stream, values, type, buffer);
            Pad(stream);
        }
    });

    static void Pad(Stream stream)
    {
        long pad = Padded(stream.Position) - stream.Position;
        for (long i = 0; i < pad; i++) stream.WriteByte(0);
    }

    /// <summary>Converts in chunks so that a large tensor is never held twice: F16 by IEEE half rounding, BF16 by round-to-nearest-even.</summary>
    static void WriteData(Stream stream, float[] data, GgufTensorType type, byte[] buffer)
    {
        if (type == GgufTensorType.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        int chunk = buffer.Length / 2;
        var words = MemoryMarshal.Cast<byte, ushort>(buffer.AsSpan());
        for (int start = 0; start < data.Length; start += chunk)
        {
            int n = Math.Min(chunk, data.Length - start);
            var src = data.AsSpan(start, n);
            if (type == GgufTensorType.BF16) BFloat16.Encode(src, words[..n]);
            else for (int i = 0; i < n; i++) words[i] = BitConverter.HalfToUInt16Bits((Half)src[i]);
            if (!BitConverter.IsLittleEndian) for (int i = 0; i < n; i++) words[i] = BinaryPrimitives.ReverseEndianness(words[i]);
            stream.Write(buffer, 0, 2 * n);
        }
    }
}

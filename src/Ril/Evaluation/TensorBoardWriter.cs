using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Ril.Evaluation;

/// <summary>
/// Writes TensorBoard event files (<c>events.out.tfevents.{seconds}.{host}</c>) with scalar summaries and text samples,
/// readable by TensorBoard without TensorFlow.
///
/// The file is a TFRecord stream: each record is <c>u64 length</c>, <c>u32 masked CRC32C(length bytes)</c>, the data,
/// <c>u32 masked CRC32C(data)</c>, all little-endian, where masked(c) = ((c &gt;&gt; 15) | (c &lt;&lt; 17)) + 0xa282ead8.
/// Each record's data is a serialized <c>tensorflow.Event</c> (tensorboard/compat/proto/event.proto): wall_time = 1
/// (double), step = 2 (int64), and one of file_version = 3 (the first event: "brain.Event:2") or summary = 5. A
/// <c>Summary</c> holds values (field 1) with tag = 1 and either simple_value = 2 (float) or, for text, metadata = 9
/// (plugin_data = 1 {plugin_name = 1: "text"}) and tensor = 8 (a <c>TensorProto</c>: dtype = 1 DT_STRING (7),
/// tensor_shape = 2 (no dims: a scalar), string_val = 8). Each record is flushed as it is written.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    const uint MaskDelta = 0xa282ead8;
    const int DtString = 7;

    readonly FileStream _stream;
    readonly Func<double> _clock;
    readonly object _gate = new();

    public string FilePath { get; }

    /// <param name="logDir">Folder of the run; created if missing.</param>
    /// <param name="clock">Seconds since the Unix epoch (tests pass a fixed one); defaults to the system clock.</param>
    /// <param name="host">The file name's host part; defaults to the machine name.</param>
    public TensorBoardWriter(string logDir, Func<double>? clock = null, string? host = null)
    {
        _clock = clock ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        Directory.CreateDirectory(logDir);
        double start = _clock();
        var name = $"events.out.tfevents.{(long)Math.Floor(start)}.{host ?? Environment.MachineName}";
        FilePath = Path.Combine(logDir, name);
        for (int i = 1; File.Exists(FilePath); i++) FilePath = Path.Combine(logDir, $"{name}.{i}");   // never append to another writer's file
        _stream = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        var first = new ProtoWriter();
        first.Double(1, start);
        first.String(3, "brain.Event:2");
        WriteRecord(first.ToArray());
    }

    /// <summary>A scalar (TensorBoard's Scalars tab). Non-finite values are written as they are; TensorBoard shows them as gaps.</summary>
    public void AddScalar(string tag, double value, long step)
    {
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Float(2, (float)value);
        WriteSummary(v, step);
    }

    /// <summary>A text sample (TensorBoard's Text tab renders it as Markdown).</summary>
    public void AddText(string tag, string text, long step)
    {
        var pluginData = new ProtoWriter();
        pluginData.String(1, "text");
        var metadata = new ProtoWriter();
        metadata.Message(1, pluginData);
        var tensor = new ProtoWriter();
        tensor.Int64(1, DtString);
        tensor.Message(2, new ProtoWriter());   // TensorShapeProto with no dims: a scalar string
        tensor.Bytes(8, Encoding.UTF8.GetBytes(text));
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Message(9, metadata);
        v.Message(8, tensor);
        WriteSummary(v, step);
    }

    void WriteSummary(ProtoWriter value, long step)
    {
        var summary = new ProtoWriter();
        summary.Message(1, value);
        var e = new ProtoWriter();
        e.Double(1, _clock());
        if (step != 0) e.Int64(2, step);   // proto3 leaves a default out
        e.Message(5, summary);
        WriteRecord(e.ToArray());
    }

    void WriteRecord(byte[] data)
    {
        var record = Frame(data);
        lock (_gate)
        {
            _stream.Write(record);
            _stream.Flush();
        }
    }

    /// <summary>One TFRecord: length, masked CRC of the length, data, masked CRC of the data.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> data)
    {
        var record = new byte[8 + 4 + data.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(record, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), MaskedCrc32C(record.AsSpan(0, 8)));
        data.CopyTo(record.AsSpan(12));
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12 + data.Length), MaskedCrc32C(data));
        return record;
    }

    /// <summary>CRC-32C (Castagnoli; hardware instruction where the CPU has one).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        while (data.Length >= 8) { crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data)); data = data[8..]; }
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return unchecked(((crc >> 15) | (crc << 17)) + MaskDelta);
    }

    public void Dispose()
    {
        lock (_gate) _stream.Dispose();
    }

    /// <summary>The few protobuf wire types an Event needs (proto3: fields at their default are simply left out by callers).</summary>
    sealed class ProtoWriter
    {
        readonly MemoryStream _buffer = new();

        void Varint(ulong v)
        {
            while (v >= 0x80) { _buffer.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _buffer.WriteByte((byte)v);
        }

        void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

        public void Int64(int field, long value) { Tag(field, 0); Varint(unchecked((ulong)value)); }

        public void Double(int field, double value)
        {
            Tag(field, 1);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(b, value);
            _buffer.Write(b);
        }

        public void Float(int field, float value)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, value);
            _buffer.Write(b);
        }

        public void Bytes(int field, ReadOnlySpan<byte> value) { Tag(field, 2); Varint((ulong)value.Length); _buffer.Write(value); }
        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));
        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());
        public byte[] ToArray() => _buffer.ToArray();
    }
}

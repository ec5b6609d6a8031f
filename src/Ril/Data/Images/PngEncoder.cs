using System.Buffers.Binary;
using System.IO.Compression;

namespace Ril.Data.Images;

/// <summary>
/// Writes 8-bit PNGs (grey, grey+alpha, RGB, RGBA by the image's channel count), not interlaced. Each
/// scanline gets the filter with the smallest sum of absolute differences, the usual heuristic.
/// The output is a pure function of the pixels and the level, so synthetic data is byte-reproducible.
/// </summary>
public static class PngEncoder
{
    public static byte[] Encode(Image image, CompressionLevel level = CompressionLevel.Optimal)
    {
        var output = new MemoryStream();
        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)image.Width);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)image.Height);
        header[8] = 8;
        header[9] = image.Channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        header[10] = header[11] = header[12] = 0;
        WriteChunk(output, "IHDR", header);

        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, level, leaveOpen: true))
        {
            int bpp = image.Channels, rowBytes = image.Width * bpp;
            var candidates = new byte[5][];
            for (int f = 0; f < 5; f++) candidates[f] = new byte[rowBytes + 1];
            var empty = new byte[rowBytes];
            for (int y = 0; y < image.Height; y++)
            {
                var row = image.Pixels.AsSpan(y * rowBytes, rowBytes);
                var previous = y > 0 ? image.Pixels.AsSpan((y - 1) * rowBytes, rowBytes) : empty;
                int best = 0;
                long bestScore = long.MaxValue;
                for (int f = 0; f < 5; f++)
                {
                    long score = Filter(f, row, previous, bpp, candidates[f]);
                    if (score < bestScore) { bestScore = score; best = f; }
                }
                z.Write(candidates[best]);
            }
        }
        WriteChunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    public static void Save(Image image, string path, CompressionLevel level = CompressionLevel.Optimal) =>
        File.WriteAllBytes(path, Encode(image, level));

    /// <summary>Filters one row into <paramref name="into"/> (type byte first); returns the sum of |signed residuals|.</summary>
    static long Filter(int type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> previous, int bpp, byte[] into)
    {
        into[0] = (byte)type;
        long score = 0;
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = previous[i], c = i >= bpp ? previous[i - bpp] : 0;
            int predicted = type switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) >> 1,
                _ => Paeth(a, b, c),
            };
            byte residual = (byte)(row[i] - predicted);
            into[i + 1] = residual;
            int signed = (sbyte)residual;
            score += signed < 0 ? -signed : signed;
        }
        return score;
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        output.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        for (int i = 0; i < 4; i++) typeBytes[i] = (byte)type[i];
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }
}

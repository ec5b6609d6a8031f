using System.Buffers.Binary;
using System.IO.Compression;

namespace Ril.Data.Images;

/// <summary>PNG colour types (PNG spec §11.2.2).</summary>
public enum PngColorType : byte { Grey = 0, Rgb = 2, Palette = 3, GreyAlpha = 4, Rgba = 6 }

/// <summary>
/// A decoded PNG at its own precision: samples as stored (1–16 bits, not rescaled; palette images hold
/// indices), plus the palette and transparency. <see cref="ToImage"/> gives the 8-bit image Ril uses.
/// </summary>
public sealed class PngImage
{
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required PngColorType ColorType { get; init; }
    public required int BitDepth { get; init; }
    public required bool Interlaced { get; init; }
    /// <summary>Samples, row-major, <see cref="SamplesPerPixel"/> per pixel.</summary>
    public required ushort[] Samples { get; init; }
    /// <summary>RGB triples of the PLTE chunk, or null.</summary>
    public byte[]? Palette { get; init; }
    /// <summary>Alpha of the first palette entries (tRNS of a palette image); later entries are opaque.</summary>
    public byte[]? PaletteAlpha { get; init; }
    /// <summary>tRNS colour key of a grey (1 value) or RGB (3 values) image, at the image's bit depth.</summary>
    public ushort[]? TransparentKey { get; init; }

    public int SamplesPerPixel => PngDecoder.SamplesPerPixel(ColorType);

    /// <summary>
    /// 8 bits per sample. Grey of 1–4 bits is scaled to 0–255 (v·255/(2^d−1)); 16-bit samples keep their
    /// high byte (as PIL and libpng's strip-16 do). A colour key or palette alpha adds an alpha channel.
    /// </summary>
    public Image ToImage()
    {
        int n = Width * Height;
        int max = (1 << BitDepth) - 1;
        byte To8(ushort v) => BitDepth switch { 16 => (byte)(v >> 8), 8 => (byte)v, _ => (byte)(v * 255 / max) };
        switch (ColorType)
        {
            case PngColorType.Palette:
            {
                bool alpha = PaletteAlpha is { Length: > 0 };
                var image = new Image(Width, Height, alpha ? 4 : 3);
                var p = image.Pixels;
                for (int i = 0; i < n; i++)
                {
                    int index = Samples[i], d = i * image.Channels;
                    p[d] = Palette![index * 3]; p[d + 1] = Palette[index * 3 + 1]; p[d + 2] = Palette[index * 3 + 2];
                    if (alpha) p[d + 3] = index < PaletteAlpha!.Length ? PaletteAlpha[index] : (byte)255;
                }
                return image;
            }
            case PngColorType.Grey or PngColorType.Rgb:
            {
                int colours = SamplesPerPixel;
                bool keyed = TransparentKey != null;
                var image = new Image(Width, Height, colours + (keyed ? 1 : 0));
                var p = image.Pixels;
                for (int i = 0; i < n; i++)
                {
                    int s = i * colours, d = i * image.Channels;
                    bool transparent = keyed;
                    for (int c = 0; c < colours; c++)
                    {
                        p[d + c] = To8(Samples[s + c]);
                        if (keyed && Samples[s + c] != TransparentKey![c]) transparent = false;
                    }
                    if (keyed) p[d + colours] = transparent ? (byte)0 : (byte)255;
                }
                return image;
            }
            default:
            {
                var image = new Image(Width, Height, SamplesPerPixel);
                for (int i = 0; i < Samples.Length; i++) image.Pixels[i] = To8(Samples[i]);
                return image;
            }
        }
    }
}

/// <summary>
/// PNG decoder (ISO/IEC 15948): every colour type and bit depth, PLTE and tRNS, Adam7 interlacing, all
/// five filters, CRCs checked. Ancillary chunks other than tRNS are skipped (no gamma or colour
/// management, like PIL's default). Any malformed input throws <see cref="ImageFormatException"/>.
/// </summary>
public static class PngDecoder
{
    /// <summary>Refuse images with more pixels than this before allocating anything (a corrupt header must not exhaust memory).</summary>
    public const long DefaultMaxPixels = 1L << 27;

    static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    // Adam7 passes: first column, first row, column step, row step.
    static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    public static bool HasSignature(ReadOnlySpan<byte> data) => data.Length >= 8 && data[..8].SequenceEqual(Signature);

    public static Image DecodeImage(ReadOnlySpan<byte> data, long maxPixels = DefaultMaxPixels) => Decode(data, maxPixels).ToImage();

    internal static int SamplesPerPixel(PngColorType type) => type switch
    {
        PngColorType.Grey or PngColorType.Palette => 1,
        PngColorType.GreyAlpha => 2,
        PngColorType.Rgb => 3,
        PngColorType.Rgba => 4,
        _ => throw new ImageFormatException($"unknown colour type {(int)type}"),
    };

    public static PngImage Decode(ReadOnlySpan<byte> data, long maxPixels = DefaultMaxPixels)
    {
        if (!HasSignature(data))
            throw new ImageFormatException(data.Length < 8 && Signature[..data.Length].SequenceEqual(data)
                ? "not a PNG file: truncated inside the signature"
                : "not a PNG file: bad signature");

        int pos = 8;
        bool sawHeader = false, sawEnd = false, sawData = false, dataEnded = false;
        int width = 0, height = 0, bitDepth = 0;
        PngColorType colorType = PngColorType.Grey;
        bool interlaced = false;
        byte[]? palette = null, paletteAlpha = null;
        ushort[]? key = null;
        var compressed = new MemoryStream();

        while (!sawEnd)
        {
            if (pos == data.Length) throw new ImageFormatException("truncated: the file ends without an IEND chunk");
            if (data.Length - pos < 8) throw new ImageFormatException($"truncated: chunk header at byte {pos} is cut off");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data[pos..]);
            var typeBytes = data.Slice(pos + 4, 4);
            string type = ChunkName(typeBytes);
            if (length > int.MaxValue) throw new ImageFormatException($"chunk '{type}' at byte {pos} claims an impossible length {length}");
            if (data.Length - pos - 12 < length)
                throw new ImageFormatException($"truncated: chunk '{type}' at byte {pos} needs {length + 12} bytes, only {data.Length - pos} remain");
            var body = data.Slice(pos + 8, (int)length);
            uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(data[(pos + 8 + (int)length)..]);
            uint crc = Crc32.Compute(data.Slice(pos + 4, 4 + (int)length));
            if (crc != storedCrc) throw new ImageFormatException($"CRC mismatch in chunk '{type}' at byte {pos}: the file is corrupt");
            pos += 12 + (int)length;

            if (!sawHeader && type != "IHDR") throw new ImageFormatException($"the first chunk must be IHDR, found '{type}'");
            if (sawData && type != "IDAT") dataEnded = true;
            switch (type)
            {
                case "IHDR":
                    if (sawHeader) throw new ImageFormatException("a second IHDR chunk");
                    if (length != 13) throw new ImageFormatException($"IHDR must be 13 bytes, is {length}");
                    sawHeader = true;
                    (width, height, bitDepth, colorType, interlaced) = ReadHeader(body, maxPixels);
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768)
                        throw new ImageFormatException($"PLTE chunk has {length} bytes: must be 3 per entry, 1–256 entries");
                    if (colorType is PngColorType.Grey or PngColorType.GreyAlpha)
                        throw new ImageFormatException("PLTE chunk in a greyscale image");
                    if (sawData) throw new ImageFormatException("PLTE chunk after image data");
                    palette = body.ToArray();
                    break;
                case "tRNS":
                    if (sawData) throw new ImageFormatException("tRNS chunk after image data");
                    switch (colorType)
                    {
                        case PngColorType.Palette:
                            if (palette == null) throw new ImageFormatException("tRNS chunk before PLTE");
                            if (length > palette.Length / 3)
                                throw new ImageFormatException($"tRNS has {length} alpha values for a palette of {palette.Length / 3} entries");
                            paletteAlpha = body.ToArray();
                            break;
                        case PngColorType.Grey or PngColorType.Rgb:
                        {
                            int n = colorType == PngColorType.Grey ? 1 : 3;
                            if (length != 2 * n) throw new ImageFormatException($"tRNS of a {colorType} image must be {2 * n} bytes, is {length}");
                            key = new ushort[n];
                            for (int c = 0; c < n; c++) key[c] = BinaryPrimitives.ReadUInt16BigEndian(body[(2 * c)..]);
                            break;
                        }
                        default:
                            throw new ImageFormatException("tRNS chunk in an image that already has an alpha channel");
                    }
                    break;
                case "IDAT":
                    if (dataEnded) throw new ImageFormatException("IDAT chunks are not consecutive");
                    sawData = true;
                    compressed.Write(body);
                    break;
                case "IEND":
                    sawEnd = true;
                    break;
                default:
                    // Bit 5 of the first letter clear (upper case) marks a chunk a decoder must understand.
                    if ((typeBytes[0] & 0x20) == 0)
                        throw new ImageFormatException($"unknown critical chunk '{type}' at byte {pos - 12 - (int)length}");
                    break;
            }
        }

        if (!sawData) throw new ImageFormatException("no IDAT chunk: the file has no image data");
        if (colorType == PngColorType.Palette && palette == null) throw new ImageFormatException("palette image without a PLTE chunk");

        int spp = SamplesPerPixel(colorType);
        int bitsPerPixel = spp * bitDepth;
        long rawLength = 0;
        foreach (var (w, h) in Passes(width, height, interlaced))
            rawLength += (long)h * (1 + ((long)w * bitsPerPixel + 7) / 8);
        if (rawLength > Array.MaxLength) throw new ImageFormatException($"image {width}×{height} is too large to decode");

        var raw = Inflate(compressed, (int)rawLength);
        var samples = new ushort[(long)width * height * spp];
        int offset = 0;
        if (!interlaced)
            Unfilter(raw, ref offset, width, height, spp, bitDepth, samples, width, 0, 0, 1, 1);
        else
            for (int p = 0; p < 7; p++)
            {
                var (x0, y0, dx, dy) = Adam7[p];
                var (w, h) = PassSize(width, height, p);
                if (w > 0 && h > 0) Unfilter(raw, ref offset, w, h, spp, bitDepth, samples, width, x0, y0, dx, dy);
            }

        if (colorType == PngColorType.Palette)
        {
            int entries = palette!.Length / 3;
            foreach (var index in samples)
                if (index >= entries) throw new ImageFormatException($"palette index {index} out of range: the palette has {entries} entries");
        }

        return new PngImage
        {
            Width = width, Height = height, ColorType = colorType, BitDepth = bitDepth, Interlaced = interlaced,
            Samples = samples, Palette = palette, PaletteAlpha = paletteAlpha, TransparentKey = key,
        };
    }

    static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> name = stackalloc char[4];
        for (int i = 0; i < 4; i++) name[i] = type[i] is >= 0x20 and < 0x7F ? (char)type[i] : '?';
        return new string(name);
    }

    static (int, int, int, PngColorType, bool) ReadHeader(ReadOnlySpan<byte> h, long maxPixels)
    {
        uint width = BinaryPrimitives.ReadUInt32BigEndian(h), height = BinaryPrimitives.ReadUInt32BigEndian(h[4..]);
        int bitDepth = h[8], colorType = h[9];
        if (width == 0 || width > int.MaxValue) throw new ImageFormatException($"invalid width {width}");
        if (height == 0 || height > int.MaxValue) throw new ImageFormatException($"invalid height {height}");
        if ((long)width * height > maxPixels)
            throw new ImageFormatException($"image too large: {width}×{height} exceeds the limit of {maxPixels} pixels");
        bool depthOk = colorType switch
        {
            0 => bitDepth is 1 or 2 or 4 or 8 or 16,
            3 => bitDepth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => bitDepth is 8 or 16,
            _ => throw new ImageFormatException($"invalid colour type {colorType}"),
        };
        if (!depthOk) throw new ImageFormatException($"bit depth {bitDepth} is not allowed for colour type {colorType}");
        if (h[10] != 0) throw new ImageFormatException($"unknown compression method {h[10]}");
        if (h[11] != 0) throw new ImageFormatException($"unknown filter method {h[11]}");
        if (h[12] > 1) throw new ImageFormatException($"unknown interlace method {h[12]}");
        return ((int)width, (int)height, bitDepth, (PngColorType)colorType, h[12] == 1);
    }

    static (int W, int H) PassSize(int width, int height, int pass)
    {
        var (x0, y0, dx, dy) = Adam7[pass];
        return ((width - x0 + dx - 1) / dx, (height - y0 + dy - 1) / dy);
    }

    static IEnumerable<(int W, int H)> Passes(int width, int height, bool interlaced)
    {
        if (!interlaced) { yield return (width, height); yield break; }
        for (int p = 0; p < 7; p++)
        {
            var (w, h) = PassSize(width, height, p);
            if (w > 0 && h > 0) yield return (w, h);
        }
    }

    /// <summary>
    /// Inflates exactly <paramref name="length"/> bytes. The buffer grows with what the stream really
    /// holds, so a corrupt header that promises gigabytes costs nothing until the data backs it up, and
    /// reading stops at the promised length, so a decompression bomb costs nothing extra either.
    /// </summary>
    static byte[] Inflate(MemoryStream compressed, int length)
    {
        var raw = new byte[Math.Min(length, 1 << 16)];
        compressed.Position = 0;
        int got = 0;
        try
        {
            using var z = new ZLibStream(compressed, CompressionMode.Decompress);
            while (got < length)
            {
                if (got == raw.Length) Array.Resize(ref raw, (int)Math.Min(length, 2L * raw.Length));
                int n = z.Read(raw, got, raw.Length - got);
                if (n == 0) break;
                got += n;
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException) // ZLibException is an IOException
        {
            throw new ImageFormatException($"corrupt image data (zlib): {e.Message}", e);
        }
        if (got < length)
            throw new ImageFormatException($"image data too short: the header needs {length} bytes of scanlines, the IDAT stream holds {got}");
        return raw;
    }

    /// <summary>Reverses the scanline filters of one (sub)image and scatters its samples into the full image.</summary>
    static void Unfilter(byte[] raw, ref int offset, int w, int h, int spp, int bitDepth,
                         ushort[] samples, int fullWidth, int x0, int y0, int dx, int dy)
    {
        int rowBytes = (int)(((long)w * spp * bitDepth + 7) / 8);
        int bpp = Math.Max(1, spp * bitDepth / 8); // bytes to the corresponding byte of the previous pixel
        var previous = new byte[rowBytes];
        var current = new byte[rowBytes];
        for (int y = 0; y < h; y++)
        {
            int filter = raw[offset];
            raw.AsSpan(offset + 1, rowBytes).CopyTo(current);
            offset += 1 + rowBytes;
            switch (filter)
            {
                case 0: break;
                case 1: for (int i = bpp; i < rowBytes; i++) current[i] += current[i - bpp]; break;
                case 2: for (int i = 0; i < rowBytes; i++) current[i] += previous[i]; break;
                case 3:
                    for (int i = 0; i < rowBytes; i++)
                        current[i] += (byte)(((i >= bpp ? current[i - bpp] : 0) + previous[i]) >> 1);
                    break;
                case 4:
                    for (int i = 0; i < rowBytes; i++)
                    {
                        int a = i >= bpp ? current[i - bpp] : 0, b = previous[i], c = i >= bpp ? previous[i - bpp] : 0;
                        current[i] += (byte)Paeth(a, b, c);
                    }
                    break;
                default:
                    throw new ImageFormatException($"unknown filter type {filter} on scanline {y}");
            }

            long rowStart = (long)(y0 + y * dy) * fullWidth;
            int valuesPerRow = w * spp;
            for (int v = 0; v < valuesPerRow; v++)
            {
                ushort sample = bitDepth switch
                {
                    16 => (ushort)(current[2 * v] << 8 | current[2 * v + 1]),
                    8 => current[v],
                    _ => (ushort)((current[v * bitDepth >> 3] >> (8 - bitDepth - (v * bitDepth & 7))) & ((1 << bitDepth) - 1)),
                };
                int x = v / spp, c = v % spp;
                samples[(rowStart + x0 + (long)x * dx) * spp + c] = sample;
            }
            (previous, current) = (current, previous);
        }
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}

/// <summary>CRC-32 as PNG and zlib's gzip use it (polynomial 0xEDB88320).</summary>
internal static class Crc32
{
    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data) => Update(0xFFFFFFFFu, data) ^ 0xFFFFFFFFu;

    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }
}

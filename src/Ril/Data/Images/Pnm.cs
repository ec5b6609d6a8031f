using System.Text;

namespace Ril.Data.Images;

/// <summary>
/// Netpbm images: PBM (P1/P4), PGM (P2/P5) and PPM (P3/P6), maxval up to 65535 (rescaled to 8 bits,
/// rounded). Writes binary PGM for grey and PPM otherwise (alpha dropped).
/// </summary>
public static class Pnm
{
    public static bool HasSignature(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 'P' && data[1] is >= (byte)'1' and <= (byte)'6';

    public static Image Decode(ReadOnlySpan<byte> data, long maxPixels = PngDecoder.DefaultMaxPixels)
    {
        if (!HasSignature(data)) throw new ImageFormatException("not a PNM file: it must start with P1–P6");
        int kind = data[1] - '0';
        int pos = 2;
        int width = ReadHeaderNumber(data, ref pos, "width");
        int height = ReadHeaderNumber(data, ref pos, "height");
        bool bitmap = kind is 1 or 4;
        int maxval = bitmap ? 1 : ReadHeaderNumber(data, ref pos, "maxval");
        if (width < 1 || height < 1) throw new ImageFormatException($"invalid size {width}×{height}");
        if ((long)width * height > maxPixels) throw new ImageFormatException($"image too large: {width}×{height} exceeds the limit of {maxPixels} pixels");
        if (maxval is < 1 or > 65535) throw new ImageFormatException($"maxval {maxval} is outside 1–65535");
        int channels = kind is 3 or 6 ? 3 : 1;
        bool binary = kind >= 4;
        if (binary)
        {
            // Exactly one whitespace byte separates the header from the raster.
            if (pos >= data.Length || !IsSpace(data[pos])) throw new ImageFormatException("truncated: no raster after the header");
            pos++;
        }

        long count = (long)width * height * channels;
        // Reject a header the file cannot back before allocating for it: a raw sample takes at least one
        // byte (two above maxval 255), a plain one at least a digit, a raw PBM row (width+7)/8 bytes.
        long needed = kind == 4 ? (long)(width + 7) / 8 * height : binary && maxval > 255 ? 2 * count : count;
        if (data.Length - pos < needed)
            throw new ImageFormatException($"truncated: the raster needs {(binary ? "" : "at least ")}{needed} bytes, {data.Length - pos} remain");
        var image = new Image(width, height, channels);
        var p = image.Pixels;
        if (kind == 4)
        {
            int rowBytes = (width + 7) / 8;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    p[y * width + x] = ((data[pos + y * rowBytes + x / 8] >> (7 - x % 8)) & 1) == 1 ? (byte)0 : (byte)255; // 1 is black
        }
        else if (binary)
        {
            int bytesPerSample = maxval > 255 ? 2 : 1;
            for (int i = 0; i < count; i++)
            {
                int v = bytesPerSample == 2 ? data[pos + 2 * i] << 8 | data[pos + 2 * i + 1] : data[pos + i];
                p[i] = Scale(v, maxval);
            }
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                if (kind == 1)
                {
                    // Plain PBM digits may run together without spaces.
                    SkipSpaceAndComments(data, ref pos);
                    if (pos >= data.Length) throw new ImageFormatException($"truncated: {i} of {count} pixels present");
                    if (data[pos] is not ((byte)'0' or (byte)'1')) throw new ImageFormatException($"bad PBM pixel '{(char)data[pos]}' at byte {pos}");
                    p[i] = data[pos++] == '1' ? (byte)0 : (byte)255;
                    continue;
                }
                int v = ReadNumber(data, ref pos, $"pixel {i}", truncatedIfMissing: true);
                if (v > maxval) throw new ImageFormatException($"sample {v} exceeds maxval {maxval} at byte {pos}");
                p[i] = Scale(v, maxval);
            }
        }
        return image;
    }

    static byte Scale(int v, int maxval) => maxval == 255 ? (byte)v : (byte)Math.Min(255, (v * 255 + maxval / 2) / maxval);

    static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\v' or (byte)'\f';

    static void SkipSpaceAndComments(ReadOnlySpan<byte> data, ref int pos)
    {
        while (pos < data.Length)
        {
            if (IsSpace(data[pos])) pos++;
            else if (data[pos] == '#') { while (pos < data.Length && data[pos] != '\n') pos++; }
            else break;
        }
    }

    static int ReadHeaderNumber(ReadOnlySpan<byte> data, ref int pos, string what) =>
        ReadNumber(data, ref pos, what, truncatedIfMissing: true);

    static int ReadNumber(ReadOnlySpan<byte> data, ref int pos, string what, bool truncatedIfMissing)
    {
        SkipSpaceAndComments(data, ref pos);
        if (pos >= data.Length)
            throw new ImageFormatException(truncatedIfMissing ? $"truncated: the file ends before the {what}" : $"missing {what}");
        if (data[pos] is < (byte)'0' or > (byte)'9')
            throw new ImageFormatException($"expected a number for the {what} at byte {pos}, found '{(char)data[pos]}'");
        long v = 0;
        while (pos < data.Length && data[pos] is >= (byte)'0' and <= (byte)'9')
        {
            v = v * 10 + (data[pos++] - '0');
            if (v > int.MaxValue) throw new ImageFormatException($"the {what} is too large");
        }
        return (int)v;
    }

    /// <summary>Binary PGM (P5) for one channel, else binary PPM (P6) with alpha dropped.</summary>
    public static byte[] Encode(Image image)
    {
        bool grey = image.Channels == 1;
        var source = grey ? image : image.ToRgb();
        var header = Encoding.ASCII.GetBytes($"{(grey ? "P5" : "P6")}\n{image.Width} {image.Height}\n255\n");
        var output = new byte[header.Length + source.Pixels.Length];
        header.CopyTo(output, 0);
        source.Pixels.CopyTo(output, header.Length);
        return output;
    }
}

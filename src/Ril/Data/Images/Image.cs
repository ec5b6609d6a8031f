namespace Ril.Data.Images;

/// <summary>
/// An 8-bit image, row-major with interleaved channels (HWC): 1 = grey, 2 = grey+alpha, 3 = RGB,
/// 4 = RGBA. Decoders hand back this; models get floats through <see cref="ImageOps.Normalise"/>.
/// </summary>
public sealed class Image
{
    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }
    public byte[] Pixels { get; }

    public Image(int width, int height, int channels, byte[]? pixels = null)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"image size must be positive, got {width}×{height}");
        if (channels is < 1 or > 4) throw new ArgumentException($"channels must be 1–4, got {channels}");
        long size = (long)width * height * channels;
        if (size > Array.MaxLength) throw new ArgumentException($"image {width}×{height}×{channels} is too large");
        if (pixels != null && pixels.Length != size)
            throw new ArgumentException($"pixel buffer has {pixels.Length} bytes, {width}×{height}×{channels} needs {size}");
        Width = width; Height = height; Channels = channels;
        Pixels = pixels ?? new byte[size];
    }

    public bool HasAlpha => Channels is 2 or 4;

    public byte this[int x, int y, int channel]
    {
        get => Pixels[(y * Width + x) * Channels + channel];
        set => Pixels[(y * Width + x) * Channels + channel] = value;
    }

    /// <summary>RGB of one pixel (grey repeated; alpha ignored).</summary>
    public (byte R, byte G, byte B) Rgb(int x, int y)
    {
        int i = (y * Width + x) * Channels;
        return Channels >= 3 ? (Pixels[i], Pixels[i + 1], Pixels[i + 2]) : (Pixels[i], Pixels[i], Pixels[i]);
    }

    /// <summary>Three channels; grey is repeated and alpha is dropped (not composited), as `ril image convert` promises.</summary>
    public Image ToRgb()
    {
        if (Channels == 3) return this;
        var rgb = new Image(Width, Height, 3);
        int n = Width * Height;
        for (int i = 0; i < n; i++)
        {
            int s = i * Channels, d = i * 3;
            if (Channels >= 3) { rgb.Pixels[d] = Pixels[s]; rgb.Pixels[d + 1] = Pixels[s + 1]; rgb.Pixels[d + 2] = Pixels[s + 2]; }
            else rgb.Pixels[d] = rgb.Pixels[d + 1] = rgb.Pixels[d + 2] = Pixels[s];
        }
        return rgb;
    }

    /// <summary>Four channels; opaque alpha where the source has none.</summary>
    public Image ToRgba()
    {
        if (Channels == 4) return this;
        var rgba = new Image(Width, Height, 4);
        int n = Width * Height;
        for (int i = 0; i < n; i++)
        {
            int s = i * Channels, d = i * 4;
            var (r, g, b) = Channels >= 3 ? (Pixels[s], Pixels[s + 1], Pixels[s + 2]) : (Pixels[s], Pixels[s], Pixels[s]);
            rgba.Pixels[d] = r; rgba.Pixels[d + 1] = g; rgba.Pixels[d + 2] = b;
            rgba.Pixels[d + 3] = HasAlpha ? Pixels[s + Channels - 1] : (byte)255;
        }
        return rgba;
    }

    /// <summary>One channel, ITU-R 601 luma (the weights PIL's convert("L") uses), alpha dropped.</summary>
    public Image ToGrey()
    {
        if (Channels == 1) return this;
        var grey = new Image(Width, Height, 1);
        int n = Width * Height;
        for (int i = 0; i < n; i++)
        {
            int s = i * Channels;
            grey.Pixels[i] = Channels >= 3
                ? (byte)((Pixels[s] * 19595 + Pixels[s + 1] * 38470 + Pixels[s + 2] * 7471 + 0x8000) >> 16)
                : Pixels[s];
        }
        return grey;
    }

    public Image Clone() => new(Width, Height, Channels, (byte[])Pixels.Clone());

    public bool SamePixels(Image other) =>
        Width == other.Width && Height == other.Height && Channels == other.Channels && Pixels.AsSpan().SequenceEqual(other.Pixels);
}

namespace Ril.Data.Images;

/// <summary>Resampling filters as Pillow defines them; Lanczos is Idefics3's (docs/spec/SMOLVLM.md, "LANCZOS").</summary>
public enum ResizeFilter { Bilinear, Bicubic, Lanczos }

/// <summary>Pixels as floats, channel-major (CHW), the layout a vision encoder takes.</summary>
public sealed record PixelArray(float[] Data, int Channels, int Height, int Width);

/// <summary>
/// Non-overlapping square patches in raster order; each row holds one patch flattened as
/// (channel, row, column), the order a Conv2d patch embedding's weight is flattened in.
/// </summary>
public sealed record Patches(float[] Data, int Count, int Dimension, int GridHeight, int GridWidth);

/// <summary>Preprocessing: resize, crop, pad, normalise, patchify.</summary>
public static class ImageOps
{
    /// <summary>
    /// Separable resampling the way PIL's Image.resize does it, bit for bit (Pillow 9.4's Resample.c with its 22-bit
    /// fixed-point weights), so preprocessing matches Python pipelines: when shrinking, the filter is widened by the
    /// scale factor, which anti-aliases; the horizontal pass runs first and is rounded to 8 bits before the vertical one.
    /// </summary>
    public static Image Resize(Image image, int width, int height, ResizeFilter filter = ResizeFilter.Bicubic)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"target size must be positive, got {width}×{height}");
        var result = image;
        if (width != image.Width) result = ResamplePass(result, width, filter, horizontal: true);
        if (height != image.Height) result = ResamplePass(result, height, filter, horizontal: false);
        return ReferenceEquals(result, image) ? image.Clone() : result;
    }

    static double Kernel(ResizeFilter filter, double x)
    {
        if (filter == ResizeFilter.Lanczos) return x >= -3 && x < 3 ? Sinc(x) * Sinc(x / 3) : 0;
        x = Math.Abs(x);
        if (filter == ResizeFilter.Bilinear) return x < 1 ? 1 - x : 0;
        const double a = -0.5; // Keys' cubic with a = −0.5, as PIL and OpenCV use
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    static double Sinc(double t) => t == 0 ? 1 : Math.Sin(Math.PI * t) / (Math.PI * t);

    /// <summary>Fractional bits of PIL's fixed-point resampling weights (Resample.c's PRECISION_BITS).</summary>
    const int PrecisionBits = 32 - 8 - 2;

    static Image ResamplePass(Image source, int outSize, ResizeFilter filter, bool horizontal)
    {
        int inSize = horizontal ? source.Width : source.Height;
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filter switch { ResizeFilter.Bilinear => 1.0, ResizeFilter.Bicubic => 2.0, _ => 3.0 } * filterScale;

        // For every output position: the first input index and the normalised weights.
        var first = new int[outSize];
        var weights = new int[outSize][];
        for (int o = 0; o < outSize; o++)
        {
            double centre = (o + 0.5) * scale;
            int lo = Math.Max((int)(centre - support + 0.5), 0);
            int hi = Math.Min((int)(centre + support + 0.5), inSize);
            var w = new double[Math.Max(hi - lo, 0)];
            double total = 0;
            double reciprocal = 1.0 / filterScale;   // PIL multiplies by the reciprocal
            for (int i = 0; i < w.Length; i++) { w[i] = Kernel(filter, (i + lo - centre + 0.5) * reciprocal); total += w[i]; }
            if (total != 0) for (int i = 0; i < w.Length; i++) w[i] /= total;
            // PIL's 8-bit path: weights in fixed point with 22 fractional bits, rounded half away from zero.
            var q = new int[w.Length];
            for (int i = 0; i < w.Length; i++) q[i] = (int)(w[i] < 0 ? w[i] * (1 << PrecisionBits) - 0.5 : w[i] * (1 << PrecisionBits) + 0.5);
            first[o] = lo; weights[o] = q;
        }

        int c = source.Channels;
        var result = horizontal ? new Image(outSize, source.Height, c) : new Image(source.Width, outSize, c);
        var src = source.Pixels;
        var dst = result.Pixels;
        int lines = horizontal ? source.Height : source.Width;
        for (int line = 0; line < lines; line++)
            for (int o = 0; o < outSize; o++)
            {
                var w = weights[o];
                for (int ch = 0; ch < c; ch++)
                {
                    int sum = 1 << (PrecisionBits - 1);
                    for (int i = 0; i < w.Length; i++)
                    {
                        int index = horizontal ? (line * source.Width + first[o] + i) * c + ch
                                               : ((first[o] + i) * source.Width + line) * c + ch;
                        sum += w[i] * src[index];
                    }
                    int target = horizontal ? (line * outSize + o) * c + ch : (o * source.Width + line) * c + ch;
                    dst[target] = (byte)Math.Clamp(sum >> PrecisionBits, 0, 255);
                }
            }
        return result;
    }

    /// <summary>The rectangle at (<paramref name="x"/>, <paramref name="y"/>); it must lie inside the image.</summary>
    public static Image Crop(Image image, int x, int y, int width, int height)
    {
        if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > image.Width || y + height > image.Height)
            throw new ArgumentException($"crop {width}×{height} at ({x},{y}) does not fit in a {image.Width}×{image.Height} image");
        var result = new Image(width, height, image.Channels);
        int rowBytes = width * image.Channels;
        for (int row = 0; row < height; row++)
            image.Pixels.AsSpan(((y + row) * image.Width + x) * image.Channels, rowBytes)
                .CopyTo(result.Pixels.AsSpan(row * rowBytes, rowBytes));
        return result;
    }

    public static Image CenterCrop(Image image, int width, int height) =>
        Crop(image, (image.Width - width) / 2, (image.Height - height) / 2, width, height);

    /// <summary>Adds borders filled with <paramref name="fill"/> (one value per channel, or one value for all).</summary>
    public static Image Pad(Image image, int left, int top, int right, int bottom, params byte[] fill)
    {
        if (left < 0 || top < 0 || right < 0 || bottom < 0) throw new ArgumentException("padding must not be negative");
        int c = image.Channels;
        if (fill.Length != 0 && fill.Length != 1 && fill.Length != c)
            throw new ArgumentException($"fill has {fill.Length} values for a {c}-channel image");
        var result = new Image(image.Width + left + right, image.Height + top + bottom, c);
        if (fill.Length > 0)
            for (int i = 0; i < result.Pixels.Length; i++) result.Pixels[i] = fill[fill.Length == 1 ? 0 : i % c];
        int rowBytes = image.Width * c;
        for (int row = 0; row < image.Height; row++)
            image.Pixels.AsSpan(row * rowBytes, rowBytes)
                .CopyTo(result.Pixels.AsSpan(((top + row) * result.Width + left) * c, rowBytes));
        return result;
    }

    /// <summary>Pads the shorter side (centred) so the image becomes square, as LLaVA-style "pad" preprocessing does.</summary>
    public static Image PadToSquare(Image image, params byte[] fill)
    {
        int side = Math.Max(image.Width, image.Height);
        int dx = side - image.Width, dy = side - image.Height;
        return Pad(image, dx / 2, dy / 2, dx - dx / 2, dy - dy / 2, fill);
    }

    /// <summary>Resizes keeping the aspect ratio so the longer side is <paramref name="size"/>, then pads to a square.</summary>
    public static Image Letterbox(Image image, int size, ResizeFilter filter = ResizeFilter.Bicubic, params byte[] fill)
    {
        double s = (double)size / Math.Max(image.Width, image.Height);
        int w = Math.Max(1, (int)Math.Round(image.Width * s)), h = Math.Max(1, (int)Math.Round(image.Height * s));
        var resized = w == image.Width && h == image.Height ? image : Resize(image, w, h, filter);
        return Pad(resized, (size - w) / 2, (size - h) / 2, size - w - (size - w) / 2, size - h - (size - h) / 2, fill);
    }

    /// <summary>(pixel/255 − mean[c]) / std[c], channel-major. Mean and std are per channel (or one value for all).</summary>
    public static PixelArray Normalise(Image image, ReadOnlySpan<float> mean, ReadOnlySpan<float> std)
    {
        int c = image.Channels, n = image.Width * image.Height;
        if (mean.Length != 1 && mean.Length != c) throw new ArgumentException($"mean has {mean.Length} values for {c} channels");
        if (std.Length != 1 && std.Length != c) throw new ArgumentException($"std has {std.Length} values for {c} channels");
        var data = new float[c * n];
        for (int ch = 0; ch < c; ch++)
        {
            float m = mean[mean.Length == 1 ? 0 : ch], s = std[std.Length == 1 ? 0 : ch];
            if (s == 0) throw new ArgumentException("std must not be zero");
            float scale = 1f / (255f * s), offset = -m / s;
            for (int i = 0; i < n; i++) data[ch * n + i] = image.Pixels[i * c + ch] * scale + offset;
        }
        return new PixelArray(data, c, image.Height, image.Width);
    }

    /// <summary>The CLIP/OpenAI mean and std, the usual default of small ViTs.</summary>
    public static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f], ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>Cuts <paramref name="pixels"/> into patchSize² squares; the size must divide evenly.</summary>
    public static Patches Patchify(PixelArray pixels, int patchSize)
    {
        var (data, c, h, w) = (pixels.Data, pixels.Channels, pixels.Height, pixels.Width);
        if (patchSize < 1 || h % patchSize != 0 || w % patchSize != 0)
            throw new ArgumentException($"a {w}×{h} image does not split into {patchSize}×{patchSize} patches");
        int gh = h / patchSize, gw = w / patchSize, dim = c * patchSize * patchSize;
        var result = new float[gh * gw * dim];
        for (int py = 0; py < gh; py++)
            for (int px = 0; px < gw; px++)
            {
                int d = (py * gw + px) * dim;
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < patchSize; y++)
                    {
                        data.AsSpan(ch * h * w + (py * patchSize + y) * w + px * patchSize, patchSize).CopyTo(result.AsSpan(d, patchSize));
                        d += patchSize;
                    }
            }
        return new Patches(result, gh * gw, dim, gh, gw);
    }
}

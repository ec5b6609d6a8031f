using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL's image processor, the PIL path of transformers (docs/spec/QWEN2_VL.md §4): smart_resize to multiples of
/// 28, Pillow bicubic, rescale by 1/255, normalise, two identical frames, patches flattened in merge-group order.
/// Qwen3-VL uses it unchanged with its own settings (<see cref="Qwen3VlDefaults"/>: factor 32, mean = std = 0.5).
/// </summary>
public sealed record Qwen2VlImageProcessor
{
    /// <summary>transformers' class defaults (the released preprocessor_config.json sets max_pixels 12845056).</summary>
    public int MinPixels { get; init; } = 3136;
    public int MaxPixels { get; init; } = 1003520;
    public int PatchSize { get; init; } = 14;
    public int TemporalPatchSize { get; init; } = 2;
    public int MergeSize { get; init; } = 2;
    public float[] Mean { get; init; } = ImageOps.ClipMean;
    public float[] Std { get; init; } = ImageOps.ClipStd;

    public int Factor => PatchSize * MergeSize;

    /// <summary>
    /// Qwen3-VL's released settings (docs/spec/QWEN3_VL.md §4.1): patch 16 (factor 32), mean = std = 0.5, min/max pixels
    /// 65536 / 16777216 — what a Qwen3-VL folder gets for the keys its preprocessor_config.json leaves out.
    /// </summary>
    public static Qwen2VlImageProcessor Qwen3VlDefaults { get; } = new()
    {
        MinPixels = 65536, MaxPixels = 16777216, PatchSize = 16, Mean = [0.5f, 0.5f, 0.5f], Std = [0.5f, 0.5f, 0.5f],
    };

    /// <summary>
    /// DIR/preprocessor_config.json's settings where present (explicit min/max_pixels win over size.shortest_edge /
    /// size.longest_edge, which are pixel counts), else <paramref name="defaults"/> (transformers' Qwen2-VL class defaults).
    /// </summary>
    public static Qwen2VlImageProcessor Load(string dir, Qwen2VlImageProcessor? defaults = null)
    {
        var path = Path.Combine(dir, "preprocessor_config.json");
        var result = defaults ?? new Qwen2VlImageProcessor();
        if (!File.Exists(path)) return result;
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {e.Message}", e); }
        T Get<T>(JsonNode? node, string field, T fallback)
        {
            if (node is null) return fallback;
            try { return node.Deserialize<T>() ?? fallback; }
            catch (JsonException e) { throw new InvalidDataException($"{path}: field '{field}' has the wrong type ({node.ToJsonString()})", e); }
        }
        var size = json["size"] as JsonObject;
        result = result with
        {
            MinPixels = Get(json["min_pixels"], "min_pixels", Get(size?["shortest_edge"], "size.shortest_edge", result.MinPixels)),
            MaxPixels = Get(json["max_pixels"], "max_pixels", Get(size?["longest_edge"], "size.longest_edge", result.MaxPixels)),
            PatchSize = Get(json["patch_size"], "patch_size", result.PatchSize),
            TemporalPatchSize = Get(json["temporal_patch_size"], "temporal_patch_size", result.TemporalPatchSize),
            MergeSize = Get(json["merge_size"], "merge_size", result.MergeSize),
            Mean = Get(json["image_mean"], "image_mean", result.Mean),
            Std = Get(json["image_std"], "image_std", result.Std),
        };
        if (result.Mean.Length != 3 || result.Std.Length != 3) throw new InvalidDataException($"{path}: fields 'image_mean' and 'image_std' must hold 3 values each");
        foreach (var (field, value) in new[] { ("patch_size", result.PatchSize), ("temporal_patch_size", result.TemporalPatchSize), ("merge_size", result.MergeSize) })
            if (value < 1) throw new InvalidDataException($"{path}: field '{field}' ({value}) must be positive");
        if (result.MinPixels < 1 || result.MaxPixels < result.MinPixels) throw new InvalidDataException($"{path}: field 'max_pixels' ({result.MaxPixels}) must be at least min_pixels ({result.MinPixels}) > 0");
        return result;
    }

    /// <summary>
    /// The target height and width: each rounded half-to-even to a multiple of the factor, then scaled into
    /// [min_pixels, max_pixels] from the original size (docs/spec/QWEN2_VL.md §4.3).
    /// </summary>
    public (int Height, int Width) SmartResize(int height, int width)
    {
        int f = Factor;
        if ((double)Math.Max(height, width) / Math.Min(height, width) > 200)
            throw new ArgumentException($"image {width}×{height}: the aspect ratio must be at most 200");
        long h = (long)Math.Round((double)height / f, MidpointRounding.ToEven) * f, w = (long)Math.Round((double)width / f, MidpointRounding.ToEven) * f;
        if (h * w > MaxPixels)
        {
            double beta = Math.Sqrt((double)height * width / MaxPixels);
            h = Math.Max(f, (long)Math.Floor(height / beta / f) * f);
            w = Math.Max(f, (long)Math.Floor(width / beta / f) * f);
        }
        else if (h * w < MinPixels)
        {
            double beta = Math.Sqrt((double)MinPixels / ((double)height * width));
            h = (long)Math.Ceiling(height * beta / f) * f;
            w = (long)Math.Ceiling(width * beta / f) * f;
        }
        return ((int)h, (int)w);
    }

    /// <summary>Patch rows [gt·gh·gw, C·T·P·P] of one image and its grid [t, h, w] in patches (docs/spec/QWEN2_VL.md §4.5).</summary>
    public (float[] Values, int[] Grid) Preprocess(Image image)
    {
        var rgb = new Image(image.Width, image.Height, 3);
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image.Rgb(x, y);   // PIL's convert("RGB"): alpha dropped, grey repeated
                rgb[x, y, 0] = r; rgb[x, y, 1] = g; rgb[x, y, 2] = b;
            }
        var (h, w) = SmartResize(image.Height, image.Width);
        var resized = h == image.Height && w == image.Width ? rgb : ImageOps.Resize(rgb, w, h, ResizeFilter.Bicubic);
        int p = PatchSize, m = MergeSize, tp = TemporalPatchSize, gh = h / p, gw = w / p, row = 3 * tp * p * p;
        var values = new float[gh * gw * row];
        for (int bh = 0; bh < gh / m; bh++)
            for (int bw = 0; bw < gw / m; bw++)
                for (int mh = 0; mh < m; mh++)
                    for (int mw = 0; mw < m; mw++)
                    {
                        int r = ((bh * (gw / m) + bw) * m + mh) * m + mw, py = (bh * m + mh) * p, px = (bw * m + mw) * p;
                        for (int ch = 0; ch < 3; ch++)
                            for (int y = 0; y < p; y++)
                                for (int x = 0; x < p; x++)
                                {
                                    float v = (float)(resized[px + x, py + y, ch] * (1.0 / 255));          // rescale in double, then float
                                    float normalised = (v - Mean[ch]) / Std[ch];
                                    for (int t = 0; t < tp; t++) values[r * row + ((ch * tp + t) * p + y) * p + x] = normalised;   // a still image: tp equal frames
                                }
                    }
        return (values, [1, gh, gw]);
    }
}

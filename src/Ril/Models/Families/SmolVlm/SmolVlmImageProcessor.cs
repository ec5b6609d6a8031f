using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Models.Families.SmolVlm;

/// <summary>
/// Idefics3's image processor, its slow PIL path exactly (docs/spec/SMOLVLM.md, "Image processor"): the longest edge to
/// size.longest_edge, then, when splitting, both sides up to multiples of max_image_size and the tiles row-major with the
/// whole image squared last; without splitting one square; every resize Pillow's LANCZOS; rescale and normalise.
/// Settings from preprocessor_config.json and processor_config.json (image_seq_len), with transformers' defaults.
/// </summary>
public sealed record SmolVlmImageProcessor
{
    public bool DoResize { get; init; } = true;
    public int LongestEdge { get; init; } = 1456;
    public bool DoImageSplitting { get; init; } = true;
    public int MaxImageSize { get; init; } = 364;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public float[] Mean { get; init; } = [0.5f, 0.5f, 0.5f];
    public float[] Std { get; init; } = [0.5f, 0.5f, 0.5f];
    /// <summary>&lt;image&gt; tokens per tile (processor_config.json; the processor's default is 169).</summary>
    public int ImageSeqLen { get; init; } = 169;

    /// <summary>The settings of a model directory; a missing file or key keeps transformers' default, a bad one is an error naming it.</summary>
    public static SmolVlmImageProcessor Load(string dir)
    {
        var settings = new SmolVlmImageProcessor();
        var pre = Path.Combine(dir, "preprocessor_config.json");
        if (File.Exists(pre))
        {
            var json = ReadObject(pre);
            var r = new ConfigReader(pre);
            int resample = r.Int(json, "resample", 1);
            if (resample != 1) throw new InvalidDataException($"{pre}: field 'resample' ({resample}) is not supported: Ril resizes with LANCZOS (1) only, as the released SmolVLM processors do");
            settings = settings with
            {
                DoResize = r.Bool(json, "do_resize", true),
                LongestEdge = r.Int(r.Object(json, "size"), "size.longest_edge", settings.LongestEdge),
                DoImageSplitting = r.Bool(json, "do_image_splitting", true),
                MaxImageSize = r.Int(r.Object(json, "max_image_size"), "max_image_size.longest_edge", settings.MaxImageSize),
                DoRescale = r.Bool(json, "do_rescale", true),
                RescaleFactor = r.Double(json, "rescale_factor", settings.RescaleFactor),
                DoNormalize = r.Bool(json, "do_normalize", true),
                Mean = Triple(json, "image_mean", pre) ?? settings.Mean,
                Std = Triple(json, "image_std", pre) ?? settings.Std,
            };
            if (settings.LongestEdge < 1 || settings.MaxImageSize < 1)
                throw new InvalidDataException($"{pre}: fields 'size.longest_edge' and 'max_image_size.longest_edge' must be positive");
        }
        var proc = Path.Combine(dir, "processor_config.json");
        if (File.Exists(proc)) settings = settings with { ImageSeqLen = new ConfigReader(proc).Int(ReadObject(proc), "image_seq_len", settings.ImageSeqLen) };
        return settings;
    }

    static JsonObject ReadObject(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {e.Message}", e); }
    }

    static float[]? Triple(JsonObject json, string field, string path) => json[field] switch
    {
        null => null,
        JsonArray { Count: 3 } a when a.All(v => v is JsonValue) => a.Select(v => (float)v!.GetValue<double>()).ToArray(),
        var other => throw new InvalidDataException($"{path}: field '{field}' must be three numbers, not {other.ToJsonString()}"),
    };

    /// <summary>Size (w, h) after the longest-edge resize: double arithmetic and truncation as transformers writes it.</summary>
    public static (int W, int H) LongestEdgeSize(int w, int h, int longest)
    {
        double ar = (double)w / h;
        if (w >= h) { w = longest; h = (int)(w / ar); if (h % 2 != 0) h++; }
        else { h = longest; w = (int)(h * ar); if (w % 2 != 0) w++; }
        (w, h) = (Math.Max(w, 1), Math.Max(h, 1));
        ar = (double)w / h;
        if (w >= h && w > 4096) { w = 4096; h = (int)(w / ar); }
        else if (h > w && h > 4096) { h = 4096; w = (int)(h * ar); }
        return (Math.Max(w, 1), Math.Max(h, 1));
    }

    /// <summary>Size (w, h) for the vision encoder: both sides up to multiples of <paramref name="tile"/>, the long side first.</summary>
    public static (int W, int H) TileMultipleSize(int w, int h, int tile)
    {
        double ar = (double)w / h;
        if (w >= h) { w = (int)Math.Ceiling((double)w / tile) * tile; h = (int)(w / ar); h = (int)Math.Ceiling((double)h / tile) * tile; }
        else { h = (int)Math.Ceiling((double)h / tile) * tile; w = (int)(h * ar); w = (int)Math.Ceiling((double)w / tile) * tile; }
        return (w, h);
    }

    /// <summary>One image's 8-bit tiles in order (row-major tiles, then the global image) and its grid (0, 0 when unsplit).</summary>
    public (List<Image> Tiles, int Rows, int Cols) Split(Image image)
    {
        var img = image.ToRgb();
        int m = MaxImageSize;
        if (DoResize)
        {
            var (w, h) = LongestEdgeSize(img.Width, img.Height, LongestEdge);
            img = ImageOps.Resize(img, w, h, ResizeFilter.Lanczos);
        }
        if (!DoImageSplitting) return ([ImageOps.Resize(img, m, m, ResizeFilter.Lanczos)], 0, 0);
        var (tw, th) = TileMultipleSize(img.Width, img.Height, m);
        img = ImageOps.Resize(img, tw, th, ResizeFilter.Lanczos);
        if (th <= m && tw <= m) return ([img], 0, 0);
        int rows = th / m, cols = tw / m;
        var tiles = new List<Image>();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) tiles.Add(ImageOps.Crop(img, c * m, r * m, m, m));
        tiles.Add(ImageOps.Resize(img, m, m, ResizeFilter.Lanczos));
        return (tiles, rows, cols);
    }

    /// <summary>A tile's pixels, channels first: v·rescale in double rounded to float, then (x − mean) / std in float.</summary>
    public float[] Normalise(Image tile)
    {
        int n = tile.Width * tile.Height;
        var result = new float[3 * n];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < 3; ch++)
            {
                byte v = tile.Pixels[i * 3 + ch];
                float x = DoRescale ? (float)(v * RescaleFactor) : v;
                if (DoNormalize) x = (x - Mean[ch]) / Std[ch];
                result[ch * n + i] = x;
            }
        return result;
    }

    /// <summary>
    /// The prompt text of an image (docs/spec/SMOLVLM.md, "Prompt"): unsplit, FAKE &lt;global-img&gt; IMG FAKE; split, per row
    /// FAKE &lt;row_r_col_c&gt; IMG for each column then a newline, then a newline and FAKE &lt;global-img&gt; IMG FAKE.
    /// </summary>
    public string ImageText(int rows, int cols, SmolVlmTokens tokens)
    {
        var image = string.Concat(Enumerable.Repeat(tokens.Image, ImageSeqLen));
        var global = tokens.FakeAroundImage + tokens.GlobalImage + image + tokens.FakeAroundImage;
        if (rows == 0 && cols == 0) return global;
        var sb = new System.Text.StringBuilder();
        for (int r = 1; r <= rows; r++)
        {
            for (int c = 1; c <= cols; c++) sb.Append(tokens.FakeAroundImage).Append($"<row_{r}_col_{c}>").Append(image);
            sb.Append('\n');
        }
        return sb.Append('\n').Append(global).ToString();
    }
}

/// <summary>The special strings of the prompt: SmolVLM2's tokenizer_config.json names them, else the literals.</summary>
public sealed record SmolVlmTokens(string Image = "<image>", string FakeAroundImage = "<fake_token_around_image>",
                                   string GlobalImage = "<global-img>", string EndOfUtterance = "<end_of_utterance>");

using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL / Qwen2.5-VL: the vision tower's merged tokens take the places of the prompt's <c>&lt;|image_pad|&gt;</c>
/// tokens, and a Qwen2 decoder reads the sequence with multimodal RoPE (docs/spec/QWEN2_VL.md §7): three position
/// planes (time, height, width), contiguous sections of the rotary frequencies reading one plane each.
/// </summary>
public sealed class Qwen2VlModel : DecoderBackedModel
{
    public Qwen2VlConfig Config { get; }
    public Qwen2VisionTower Vision { get; }

    public Qwen2VlModel(Qwen2VlConfig config, Rng rng) : this(config, new DecoderLM(config.Text, rng), new Qwen2VisionTower(config.Vision, rng)) { }

    Qwen2VlModel(Qwen2VlConfig config, DecoderLM decoder, Qwen2VisionTower vision) : base(decoder) => (Config, Vision) = (config, vision);

    public override int ImageTokenId => Config.ImageTokenId;
    public override bool AcceptsImages => true;
    public override int PositionRank => 3;

    /// <summary>
    /// get_rope_index for one sequence (§7.3): text counts on from the next free position on all three planes; the k-th
    /// image (a run of placeholders right after <c>&lt;|vision_start|&gt;</c>) puts merged token (bh, bw) at
    /// (s, s + bh, s + bw) and the text after it resumes at s + max(lh, lw).
    /// </summary>
    public override int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images)
    {
        int n = ids.Length, next = 0, image = 0, m = Config.Vision.MergeSize;
        var grids = images?.Grids ?? [];
        var positions = new int[3 * n];
        for (int i = 0; i < n;)
        {
            if (ids[i] == ImageTokenId && i > 0 && ids[i - 1] == Config.VisionStartTokenId && image < grids.Count)
            {
                var g = grids[image++];
                int lh = g[1] / m, lw = g[2] / m, tokens = g[0] * lh * lw;
                if (i + tokens > n) throw new ArgumentException($"Qwen2-VL: image {image} needs {tokens} placeholder tokens, the sequence has {n - i} left");
                for (int t = 0; t < g[0]; t++)
                    for (int bh = 0; bh < lh; bh++)
                        for (int bw = 0; bw < lw; bw++, i++)
                            (positions[i], positions[n + i], positions[2 * n + i]) = (next + t, next + bh, next + bw);
                next += Math.Max(g[0], Math.Max(lh, lw));
            }
            else
            {
                positions[i] = positions[n + i] = positions[2 * n + i] = next++;
                i++;
            }
        }
        return positions;
    }

    /// <summary>Multimodal RoPE's angles (§7.2): frequency j of the head's d/2 reads plane t, h or w by mrope_section.</summary>
    public RotaryTables MultimodalRotary(int[] positions, int count)
    {
        int d = Config.Text.HeadDim, half = d / 2;
        var plane = new int[half];
        for (int j = 0, s = 0; s < 3; s++)
            for (int k = 0; k < Config.MropeSection[s]; k++) plane[j++] = s;
        var inv = new float[half];
        for (int j = 0; j < half; j++) inv[j] = (float)(1.0 / Math.Pow(Config.Text.RopeTheta, 2.0 * j / d));
        var cos = new float[count * half];
        var sin = new float[count * half];
        for (int r = 0; r < count; r++)
            for (int j = 0; j < half; j++)
            {
                float angle = positions[plane[j] * count + r] * inv[j];   // float32, as transformers computes it
                cos[r * half + j] = MathF.Cos(angle);
                sin[r * half + j] = MathF.Sin(angle);
            }
        return new RotaryTables(cos, sin);
    }

    public override Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        if (inputs.PositionRank != 3) throw new ArgumentException($"Qwen2-VL reads 3-plane positions; these inputs have {inputs.PositionRank}");
        var embeds = Ops.Embedding(Text.EmbedTokens, inputs.Ids);
        if (inputs.Pixels is { } pixels)
        {
            var features = Vision.Forward(pixels);
            if (features.Shape[0] != inputs.ImageSlots.Count)
                throw new ArgumentException($"Qwen2-VL: {inputs.ImageSlots.Count} image placeholder tokens, but the images give {features.Shape[0]} features");
            embeds = Ops.ReplaceRows(embeds, inputs.ImageSlots.ToArray(), features);
        }
        else if (inputs.ImageSlots.Count > 0) throw new ArgumentException($"Qwen2-VL: {inputs.ImageSlots.Count} image slots and no pixels");
        int count = inputs.Rows * inputs.Length;
        return Text.Forward(Ops.Reshape(embeds, inputs.Rows, inputs.Length, HiddenSize), positions: null,
            cache is null ? inputs.Mask : null, cache, cacheKeyValid, MultimodalRotary(inputs.Positions, count));
    }

    public override IEnumerable<Tensor> Parameters() => Vision.Parameters().Concat(Text.Parameters());
    public override ICausalLM BaseView() => new Qwen2VlModel(Config, Text.SharingWeights(), Vision);
    public override JsonObject ConfigJson() => (JsonObject)Config.Json.DeepClone();
}

using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen3Vl;

/// <summary>
/// Qwen3-VL (dense): the vision tower's merged tokens take the places of the prompt's <c>&lt;|image_pad|&gt;</c> tokens, a
/// Qwen3 decoder (per-head q/k RMSNorm, explicit head_dim) reads the sequence with interleaved multimodal RoPE, and the
/// DeepStack features of intermediate vision blocks are added to the outputs of the first decoder layers at the image
/// tokens (docs/spec/QWEN3_VL.md §7). Positions are Qwen2-VL's get_rope_index; decoding continues at the prompt's largest
/// position + 1, and DeepStack acts in the prefill only (the images are all in the prompt).
/// </summary>
public sealed class Qwen3VlModel : DecoderBackedModel
{
    public Qwen3VlConfig Config { get; }
    public Qwen3VisionTower Vision { get; }
    readonly int[] _planes;

    public Qwen3VlModel(Qwen3VlConfig config, Rng rng)
        : this(config, new DecoderLM(config.Text, rng, prefix: Qwen3VlFamily.DecoderPrefix), new Qwen3VisionTower(config, rng)) { }

    Qwen3VlModel(Qwen3VlConfig config, DecoderLM decoder, Qwen3VisionTower vision) : base(decoder) =>
        (Config, Vision, _planes) = (config, vision, MultimodalRope.InterleavedPlanes(config.MropeSection));

    public override int ImageTokenId => Config.ImageTokenId;
    public override bool AcceptsImages => true;
    public override int PositionRank => 3;

    public override int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images) =>
        MultimodalRope.Positions(ids, images, ImageTokenId, Config.VisionStartTokenId, Config.Vision.MergeSize, "Qwen3-VL");

    public override Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        if (inputs.PositionRank != 3) throw new ArgumentException($"Qwen3-VL reads 3-plane positions; these inputs have {inputs.PositionRank}");
        var embeds = Ops.Embedding(Text.EmbedTokens, inputs.Ids);
        Tensor[] deepstack = [];
        int[] slots = inputs.ImageSlots.ToArray();
        if (inputs.Pixels is not null)
        {
            var encoded = ImageFeatureCache.Encode(Vision, Trains(Vision.Parameters()), inputs, p => { var (f, taps) = Vision.Forward(p); return [f, .. taps]; });
            var features = encoded[0];
            deepstack = encoded[1..];
            if (features.Shape[0] != slots.Length)
                throw new ArgumentException($"Qwen3-VL: {slots.Length} image placeholder tokens, but the images give {features.Shape[0]} features");
            embeds = Ops.ReplaceRows(embeds, slots, features);
        }
        else if (slots.Length > 0) throw new ArgumentException($"Qwen3-VL: {slots.Length} image slots and no pixels");
        int rows = inputs.Rows, length = inputs.Length, count = rows * length, d = HiddenSize;
        // DeepStack (§7.3): feature k joins the output of decoder layer k at the image tokens, in their order.
        Tensor AddDeepstack(int layer, Tensor x) => layer >= deepstack.Length ? x
            : Ops.Add(x, Ops.Reshape(Ops.ReplaceRows(Tensor.Zeros(count, d), slots, deepstack[layer]), rows, length, d));
        return Text.Forward(Ops.Reshape(embeds, rows, length, d), positions: null, cache is null ? inputs.Mask : null, cache, cacheKeyValid,
            MultimodalRope.Rotary(Config.Text, _planes, inputs.Positions, count), deepstack.Length > 0 ? AddDeepstack : null);
    }

    public override IEnumerable<Tensor> Parameters() => Vision.Parameters().Concat(Text.Parameters());
    public override ICausalLM BaseView() => new Qwen3VlModel(Config, Text.SharingWeights(), Vision);
    public override JsonObject ConfigJson() => (JsonObject)Config.Json.DeepClone();
}

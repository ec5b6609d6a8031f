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

    public Qwen2VlModel(Qwen2VlConfig config, Rng rng)
        : this(config, new DecoderLM(config.Text, rng) { ModulePrefix = "model.language_model." }, new Qwen2VisionTower(config.Vision, rng)) { }

    Qwen2VlModel(Qwen2VlConfig config, DecoderLM decoder, Qwen2VisionTower vision) : base(decoder) =>
        (Config, Vision, _planes) = (config, vision, MultimodalRope.ContiguousPlanes(config.MropeSection));

    readonly int[] _planes;

    public override int ImageTokenId => Config.ImageTokenId;
    public override bool AcceptsImages => true;
    public override int PositionRank => 3;

    /// <summary>get_rope_index (§7.3): <see cref="MultimodalRope.Positions"/>.</summary>
    public override int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images) =>
        MultimodalRope.Positions(ids, images, ImageTokenId, Config.VisionStartTokenId, Config.Vision.MergeSize, "Qwen2-VL");

    /// <summary>Multimodal RoPE's angles (§7.2): frequency j of the head's d/2 reads plane t, h or w by mrope_section.</summary>
    public RotaryTables MultimodalRotary(int[] positions, int count) => MultimodalRope.Rotary(Config.Text, _planes, positions, count);

    public override Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        if (inputs.PositionRank != 3) throw new ArgumentException($"Qwen2-VL reads 3-plane positions; these inputs have {inputs.PositionRank}");
        var embeds = Ops.Embedding(Text.EmbedTokens, inputs.Ids);
        if (inputs.Pixels is not null)
        {
            var features = ImageFeatureCache.Encode(Vision, Trains(Vision.Parameters()), inputs, p => [Vision.Forward(p)])[0];
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

using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen35;

/// <summary>
/// Qwen3.5 (dense): Qwen3-VL's vision tower without DeepStack puts its merged tokens in the places of the prompt's
/// <c>&lt;|image_pad|&gt;</c> tokens, and the hybrid decoder (Gated DeltaNet layers and gated attention layers,
/// docs/spec/QWEN3_5.md "The hybrid decoder") reads the sequence with partial interleaved M-RoPE. Positions are Qwen2-VL's get_rope_index;
/// decoding continues at the prompt's largest position + 1; the decoding cache holds keys and values of the attention
/// layers and the conv inputs and recurrent states of the others.
/// </summary>
public sealed class Qwen35Model : DecoderBackedModel
{
    public Qwen35Config Config { get; }
    public Qwen3VisionTower Vision { get; }
    readonly int[] _planes;

    public Qwen35Model(Qwen35Config config, Rng rng)
        : this(config, new DecoderLM(config.Text, rng, prefix: Qwen3VlFamily.DecoderPrefix),
               new Qwen3VisionTower(config.Vision, taps: [], config.PositionTableSide, rng)) { }

    Qwen35Model(Qwen35Config config, DecoderLM decoder, Qwen3VisionTower vision) : base(decoder) =>
        (Config, Vision, _planes) = (config, vision, MultimodalRope.InterleavedPlanes(config.MropeSection));

    public override int ImageTokenId => Config.ImageTokenId;
    public override bool AcceptsImages => true;
    public override int PositionRank => 3;

    public override int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images) =>
        MultimodalRope.Positions(ids, images, ImageTokenId, Config.VisionStartTokenId, Config.Vision.MergeSize, "Qwen3.5");

    public override Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        if (inputs.PositionRank != 3) throw new ArgumentException($"Qwen3.5 reads 3-plane positions; these inputs have {inputs.PositionRank}");
        var embeds = Ops.Embedding(Text.EmbedTokens, inputs.Ids);
        int[] slots = inputs.ImageSlots.ToArray();
        if (inputs.Pixels is not null)
        {
            var features = ImageFeatureCache.Encode(Vision, Trains(Vision.Parameters()), inputs, p => [Vision.Forward(p).Features])[0];
            if (features.Shape[0] != slots.Length)
                throw new ArgumentException($"Qwen3.5: {slots.Length} image placeholder tokens, but the images give {features.Shape[0]} features");
            embeds = Ops.ReplaceRows(embeds, slots, features);
        }
        else if (slots.Length > 0) throw new ArgumentException($"Qwen3.5: {slots.Length} image slots and no pixels");
        int rows = inputs.Rows, length = inputs.Length, count = rows * length;
        return Text.Forward(Ops.Reshape(embeds, rows, length, HiddenSize), positions: null, cache is null ? inputs.Mask : null, cache, cacheKeyValid,
            MultimodalRope.Rotary(Config.Text, _planes, inputs.Positions, count));
    }

    public override IEnumerable<Tensor> Parameters() => Vision.Parameters().Concat(Text.Parameters());
    public override ICausalLM BaseView() => new Qwen35Model(Config, Text.SharingWeights(), Vision);
    public override JsonObject ConfigJson() => (JsonObject)Config.Json.DeepClone();
}

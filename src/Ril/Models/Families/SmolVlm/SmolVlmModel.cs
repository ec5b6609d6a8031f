using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;

namespace Ril.Models.Families.SmolVlm;

/// <summary>
/// Idefics3 / SmolVLM: a SigLIP tower reads each tile, the connector (pixel shuffle, one bias-free linear) turns its
/// patches into image_seq_len features, which replace the prompt's &lt;image&gt; embeddings in reading order; a Llama
/// decoder with 1-D positions reads the rest (docs/spec/SMOLVLM.md, "Vision tower" to "Text model").
/// </summary>
public sealed class SmolVlmModel : DecoderBackedModel
{
    public SmolVlmConfig Config { get; }
    public VisionEncoder Vision { get; }
    /// <summary>model.connector.modality_projection.proj.weight [H, D·s²].</summary>
    public Tensor Connector { get; }

    SmolVlmModel(SmolVlmConfig config, DecoderLM text, VisionEncoder vision, Tensor connector) : base(text) =>
        (Config, Vision, Connector) = (config, vision, connector);

    /// <summary>A model of the config with random weights, under the Hub's names.</summary>
    public static SmolVlmModel Create(SmolVlmConfig config, Rng rng)
    {
        var vision = new VisionEncoder(config.Vision, rng, "model.vision_model.");
        var connector = Tensor.Randn(rng, 0.02f, config.Text.HiddenSize, config.Vision.HiddenSize * config.ScaleFactor * config.ScaleFactor)
            .AsParameter("model.connector.modality_projection.proj.weight");
        return new SmolVlmModel(config, new DecoderLM(config.Text, rng, prefix: "model.text_model."), vision, connector);
    }

    public override IEnumerable<Tensor> Parameters() => Text.Parameters().Concat(Vision.Parameters()).Append(Connector);

    /// <summary>
    /// Image features [tiles·image_seq_len, H] of tiles [N, C, S, S]. With a pixel mask [N, S, S] (1 on image pixels) a
    /// tile's patches of no image pixel are masked as keys and the others take Idefics3's positions for a partial grid:
    /// patch (i, j) of an nb_h × nb_w block gets ⌊i·n/nb_h⌋·n + ⌊j·n/nb_w⌋ (docs/spec/SMOLVLM.md, "Position ids").
    /// </summary>
    public Tensor ImageFeatures(PixelInputs pixels)
    {
        var values = pixels.Values;
        var c = Config.Vision;
        if (values.Rank != 4 || values.Shape[1] != c.NumChannels || values.Shape[2] != c.ImageSize || values.Shape[3] != c.ImageSize)
            throw new ArgumentException($"SmolVLM: pixel values {ShapeOf.Format(values.Shape)} must be tiles [N, {c.NumChannels}, {c.ImageSize}, {c.ImageSize}]");
        int[]? positions = null;
        bool[]? valid = null;
        if (pixels.Mask is { } mask) (positions, valid) = PatchPositions(mask.ToArray(), values.Shape[0], c.GridSize, c.PatchSize);
        var patches = Vision.Forward(values, positions, valid);
        var features = Ops.Linear(Projector.Shuffle(patches, Config.ScaleFactor), Connector);   // the connector has no bias
        return Ops.Reshape(features, -1, Config.Text.HiddenSize);
    }

    /// <summary>Position ids and validity [tiles·n²] of the patches of pixel masks [tiles, n·p, n·p].</summary>
    public static (int[] Positions, bool[] Valid) PatchPositions(float[] mask, int tiles, int n, int p)
    {
        int side = n * p;
        var valid = new bool[tiles * n * n];
        var positions = new int[tiles * n * n];
        for (int t = 0; t < tiles; t++)
        {
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    bool any = false;
                    for (int y = i * p; y < i * p + p && !any; y++)
                        for (int x = j * p; x < j * p + p && !any; x++) any = mask[(t * side + y) * side + x] != 0;
                    valid[(t * n + i) * n + j] = any;
                }
            int nbH = 0, nbW = 0;
            for (int i = 0; i < n; i++) nbH += valid[(t * n + i) * n] ? 1 : 0;
            for (int j = 0; j < n; j++) nbW += valid[t * n * n + j] ? 1 : 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (valid[(t * n + i) * n + j]) positions[(t * n + i) * n + j] = i * n / Math.Max(nbH, 1) * n + j * n / Math.Max(nbW, 1);
        }
        return (positions, valid);
    }

    // The family seam (ICausalLM): the decoder's, with image features on the prompts' <image> tokens and 1-D positions.
    public override int ImageTokenId => Config.ImageTokenId;
    public override bool AcceptsImages => true;
    public override int PositionRank => 1;

    /// <summary>Image tokens count like any token: 0, 1, …, n − 1.</summary>
    public override int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images) => Text.SequencePositions(ids, null);

    public override Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        var embeds = Ops.Embedding(Text.EmbedTokens, inputs.Ids);
        int features = 0;
        if (inputs.Pixels is not null)
        {
            var image = ImageFeatureCache.Encode(Vision, Connector.RequiresGrad || Trains(Vision.Parameters()), inputs, p => [ImageFeatures(p)])[0];
            features = image.Shape[0];
            if (features == inputs.ImageSlots.Count) embeds = Ops.ReplaceRows(embeds, inputs.ImageSlots.ToArray(), image);
        }
        if (features != inputs.ImageSlots.Count)
            throw new ArgumentException($"SmolVLM: the prompts have {inputs.ImageSlots.Count} <image> tokens (id {ImageTokenId}) but their tiles give {features} features ({Config.ImageSeqLen} per tile)");
        var x = Ops.Reshape(embeds, inputs.Rows, inputs.Length, HiddenSize);
        return Text.Forward(x, inputs.Positions1D, cache is null ? inputs.Mask : null, cache, cacheKeyValid);
    }

    public override ICausalLM BaseView() => new SmolVlmModel(Config, Text.SharingWeights(), Vision, Connector);
    public override JsonObject ConfigJson() => (JsonObject)Config.Json.DeepClone();
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;

namespace Ril.Models.Families.RilVlm;

/// <summary>
/// Vision encoder + projector + decoder LM. Every image placeholder token in the prompt is replaced, in order, by one
/// row of the projected image features; a prompt with no image (or a model with no vision tower) is plain text.
/// The LM keeps the plain Llama/Qwen2 names ("model.*", "lm_head.weight") so text checkpoints load into it directly.
/// </summary>
public sealed class VisionLanguageModel : DecoderBackedModel
{
    public VlmConfig Config { get; }
    public VisionEncoder? Vision { get; }
    public Projector? Projector { get; }
    public override int ImageTokenId => Config.ImageTokenId;

    public VisionLanguageModel(VlmConfig config, DecoderLM text, VisionEncoder? vision, Projector? projector) : base(text)
    {
        if ((vision is null) != (projector is null)) throw new ArgumentException("VisionLanguageModel: a vision tower needs a projector and vice versa");
        (Config, Vision, Projector) = (config, vision, projector);
    }

    /// <summary>A model of the layout with random weights (N(0, 0.02²) matrices, unit norms).</summary>
    public static VisionLanguageModel Create(VlmConfig config, Rng rng)
    {
        var lm = new DecoderLM(config.Text, rng);
        if (config.Vision is not { } vision) return new VisionLanguageModel(config, lm, null, null);
        var encoder = new VisionEncoder(vision, rng, "vision_tower.vision_model.");
        return new VisionLanguageModel(config, lm, encoder, new Projector(vision.HiddenSize, config.Text.HiddenSize, config.PixelShuffle, rng));
    }

    public static VisionLanguageModel Create(DecoderConfig text, VisionConfig? vision, int pixelShuffle, int imageTokenId, Rng rng) =>
        Create(new VlmConfig { Text = text, Vision = vision, PixelShuffle = pixelShuffle, ImageTokenId = imageTokenId }, rng);

    /// <summary>
    /// The base under this model's LoRA adapters, over the very same tensors (nothing copied): with the policy training
    /// through adapters, this is the KL reference at no memory cost. Sound only while the shared weights stay frozen.
    /// </summary>
    public override VisionLanguageModel BaseView() => new(Config, Text.SharingWeights(), Vision, Projector);

    /// <summary>Image tokens each image occupies in a prompt (0 for a text-only model).</summary>
    public int TokensPerImage => Vision is null ? 0 : Projector!.TokensPerImage(Vision.Config.GridSize);

    public override IEnumerable<Tensor> Parameters()
    {
        var all = Text.Parameters();
        if (Vision is not null) all = all.Concat(Vision.Parameters()).Concat(Projector!.Parameters());
        return all;
    }

    /// <summary>Projected image features [images·tokens, d] of pixels [images, C, H, W].</summary>
    public Tensor ImageFeatures(Tensor pixels)
    {
        if (Vision is null) throw new InvalidOperationException("this model has no vision tower: it cannot take images");
        return Ops.Reshape(Projector!.Forward(Vision.Forward(pixels)), -1, Text.Config.HiddenSize);
    }

    /// <summary>Input embeddings [B, T, d] for ids [B·T], image placeholders filled from <paramref name="imageFeatures"/>.</summary>
    /// <remarks>
    /// <paramref name="imageSlots"/> lists the positions that take image features; by default every placeholder token.
    /// Callers that append generated text pass the prompt's slots only: a placeholder id inside a response is text.
    /// </remarks>
    public Tensor Embed(int[] ids, int batch, Tensor? imageFeatures, IReadOnlyList<int>? imageSlots = null)
    {
        var tokens = Ops.Embedding(Text.EmbedTokens, ids);
        var slots = imageSlots?.ToList() ?? new List<int>();
        if (imageSlots is null)
            for (int i = 0; i < ids.Length; i++) if (ids[i] == ImageTokenId) slots.Add(i);
        int features = imageFeatures?.Shape[0] ?? 0;
        if (slots.Count != features)
            throw new ArgumentException($"VisionLanguageModel: the prompt has {slots.Count} image placeholder tokens (id {ImageTokenId}) but the images give {features} feature rows ({TokensPerImage} per image)");
        if (features > 0) tokens = Ops.ReplaceRows(tokens, slots.ToArray(), imageFeatures!);
        return Ops.Reshape(tokens, batch, ids.Length / batch, Text.Config.HiddenSize);
    }

    /// <summary>Logits [B·T, vocab] of a batch of prompts with their images.</summary>
    public Tensor Logits(int[] ids, int batch, Tensor? pixels = null, int[]? positions = null, AttentionMask? mask = null) =>
        Text.Head(Text.Forward(Embed(ids, batch, pixels is null ? null : ImageFeatures(pixels)), positions, mask));

    // The family seam (ICausalLM): the decoder's, with image features on the prompts' placeholders and 1-D positions.
    public override bool AcceptsImages => Vision is not null;
    public override int PositionRank => 1;

    /// <summary>Image placeholders count like any token: 0, 1, …, n − 1.</summary>
    public override int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images) => Text.SequencePositions(ids, null);

    public override Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        var features = inputs.Pixels is null ? null
            : ImageFeatureCache.Encode(Vision!, Trains(Vision!.Parameters().Concat(Projector!.Parameters())), inputs, p => [ImageFeatures(p.Values)])[0];
        return Text.Forward(Embed(inputs.Ids, inputs.Rows, features, inputs.ImageSlots), inputs.Positions1D, cache is null ? inputs.Mask : null, cache, cacheKeyValid);
    }

    public override JsonObject ConfigJson() => (JsonObject)JsonSerializer.SerializeToNode(Config)!;
}

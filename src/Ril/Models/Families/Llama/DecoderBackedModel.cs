using System.Text.Json.Nodes;
using Ril.Tensors;

namespace Ril.Models.Families.Llama;

/// <summary>
/// A model whose language model is the Llama-layout <see cref="DecoderLM"/> (Ril's own VLM, Qwen2-VL, SmolVLM): what
/// <see cref="ICausalLM"/> asks of the decoder, said once. A family adds its vision side, its positions and its inputs.
/// LoRA goes on the decoder's projections and freezes the decoder's base; what else trains is the recipe's choice.
/// </summary>
public abstract class DecoderBackedModel(DecoderLM text) : ICausalLM
{
    /// <summary>The language model.</summary>
    public DecoderLM Text { get; } = text;

    public int HiddenSize => Text.HiddenSize;
    public int VocabSize => Text.VocabSize;
    public int ContextLength => Text.ContextLength;
    public Tensor? UntiedHead => Text.UntiedHead;
    public LoraAdapters? Adapters => Text.Adapters;
    public bool RecomputeActivations { get => Text.RecomputeActivations; set => Text.RecomputeActivations = value; }
    public Tensor Head(Tensor hidden) => Text.Head(hidden);
    public KvCache NewCache(int batch, int capacity) => Text.NewCache(batch, capacity);
    public long KvCacheBytes(int rows, int capacity) => Text.KvCacheBytes(rows, capacity);
    public IEnumerable<Tensor> DecoderParameters() => Text.Parameters();
    public LoraAdapters AttachLora(LoraConfig config, Rng rng) => LoraAdapters.Attach(Text, config, rng);
    /// <summary>The decoder alone: on text, a VLM's positions are the decoder's own (multimodal RoPE's planes agree).</summary>
    public ICausalLM LanguageModel(bool shareWeights, Rng rng) => Text.LanguageModel(shareWeights, rng);

    /// <summary>Whether a gradient must reach a vision part with these parameters (some of them train).</summary>
    protected static bool Trains(IEnumerable<Tensor> parameters) => parameters.Any(p => p.RequiresGrad);

    public abstract int ImageTokenId { get; }
    public abstract bool AcceptsImages { get; }
    public abstract int PositionRank { get; }
    public abstract int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images);
    public abstract Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null);
    public abstract IEnumerable<Tensor> Parameters();
    public abstract ICausalLM BaseView();
    public abstract JsonObject ConfigJson();
}

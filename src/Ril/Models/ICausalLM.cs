using System.Text.Json.Nodes;
using Ril.Tensors;

namespace Ril.Models;

/// <summary>
/// What the generator, the log-probs, the trainers, the discriminator and LoRA need of a model, whatever its family: a
/// causal language model that may put image features on placeholder tokens. A family implements it once (its own
/// vision tower, connector, decoder and position scheme); nothing outside the family looks further.
/// </summary>
public interface ICausalLM
{
    int HiddenSize { get; }
    int VocabSize { get; }
    /// <summary>Prompt and reply together fit in this many positions.</summary>
    int ContextLength { get; }
    /// <summary>The placeholder id that image features replace; −1 for a model without a vision tower.</summary>
    int ImageTokenId { get; }
    bool AcceptsImages { get; }
    /// <summary>Components of a position id: 1 for RoPE, 3 for multimodal RoPE.</summary>
    int PositionRank { get; }

    /// <summary>
    /// Position ids of one sequence (a prompt with its image placeholders, then generated text), plane by plane: [rank·n].
    /// <paramref name="images"/> are the prompt's images (their grids place multimodal RoPE's image tokens).
    /// </summary>
    int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images);

    /// <summary>
    /// Final hidden states [Rows, Length, d]. With a <paramref name="cache"/> (inference only) the new tokens attend to the
    /// cached ones too (<paramref name="cacheKeyValid"/> [Rows·capacity] marks the real ones) and the cache advances.
    /// </summary>
    Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null);

    /// <summary>Logits [rows, vocab] of hidden states [..., d].</summary>
    Tensor Head(Tensor hidden);

    /// <summary>A KV cache sized for this model.</summary>
    KvCache NewCache(int batch, int capacity);

    /// <summary>Bytes of <see cref="NewCache"/>'s cache for <paramref name="rows"/> sequences of <paramref name="capacity"/> positions.</summary>
    long KvCacheBytes(int rows, int capacity);

    /// <summary>The decoder's parameters (its matrices feed Linear and Embedding only, so they may be stored in bf16).</summary>
    IEnumerable<Tensor> DecoderParameters();

    /// <summary>Every parameter, each once, under its Hugging Face name.</summary>
    IEnumerable<Tensor> Parameters();

    /// <summary>The LM head when it is its own tensor (a scalar-head model drops it); null when tied to the embeddings.</summary>
    Tensor? UntiedHead { get; }

    /// <summary>The model's LoRA adapters, if any.</summary>
    LoraAdapters? Adapters { get; }

    /// <summary>Puts LoRA adapters on the decoder's targeted projections and freezes every base parameter.</summary>
    LoraAdapters AttachLora(LoraConfig config, Rng rng);

    /// <summary>The same model over the very same tensors without the adapters: the KL reference at no memory cost.</summary>
    ICausalLM BaseView();

    /// <summary>
    /// The language model alone (no vision tower), for a reader of text only such as RIL's discriminator: a fresh copy of
    /// its weights in float32, or with <paramref name="shareWeights"/> a view over the very same tensors (sound only while
    /// they stay frozen) that can carry adapters of its own. A copy draws its initial weights from <paramref name="rng"/>
    /// before they are overwritten.
    /// </summary>
    ICausalLM LanguageModel(bool shareWeights, Rng rng);

    /// <summary>Recompute each block's activations in backward instead of keeping them.</summary>
    bool RecomputeActivations { get; set; }

    /// <summary>The config.json that loads this model back through its family.</summary>
    JsonObject ConfigJson();
}

using Ril.Tensors.Memory;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Tensors;

namespace Ril.Models.Families.Llama;

/// <summary>
/// Llama/Qwen2 decoder: embed → N × [x + attn(rmsnorm(x)); x + mlp(rmsnorm(x))] → rmsnorm → lm_head.
/// Parameter names are Hugging Face's, so real checkpoints of those families map one to one. The text family's model,
/// and the language model inside Ril's own VLM layout.
/// </summary>
public sealed class DecoderLM : ICausalLM
{
    public DecoderConfig Config { get; }
    public Tensor EmbedTokens { get; }
    public DecoderBlock[] Layers { get; }
    public Tensor FinalNorm { get; }
    public Tensor LmHead { get; }
    /// <summary>LoRA adapters on the blocks' projections, set by <see cref="LoraAdapters.Attach"/>; null for a plain model.</summary>
    public LoraAdapters? Adapters
    {
        get => _adapters;
        internal set { _adapters = value; foreach (var l in Layers) l.Adapters = value; }
    }
    LoraAdapters? _adapters;
    /// <summary>Recompute each block's activations in backward instead of keeping them (less memory, one more forward).</summary>
    public bool RecomputeActivations { get; set; }

    /// <param name="rng">draws the initial weight matrices; null leaves them uninitialized, for a checkpoint to fill</param>
    /// <param name="prefix">where the decoder's weights live in the checkpoint ("model." for a text model; a VLM may nest it)</param>
    public DecoderLM(DecoderConfig config, Rng? rng, float initStd = 0.02f, string prefix = "model.")
    {
        config.Validate("DecoderLM");
        Config = config;
        int d = config.HiddenSize;
        EmbedTokens = DecoderBlock.Matrix(rng, initStd, config.VocabSize, d).AsParameter(prefix + "embed_tokens.weight");
        Layers = Enumerable.Range(0, config.NumLayers).Select(i => new DecoderBlock(config, i, rng, initStd, prefix)).ToArray();
        FinalNorm = Tensor.Ones(d).AsParameter(prefix + "norm.weight");
        LmHead = config.TieWordEmbeddings ? EmbedTokens : DecoderBlock.Matrix(rng, initStd, config.VocabSize, d).AsParameter("lm_head.weight");
    }

    DecoderLM(DecoderLM source)
    {
        (Config, EmbedTokens, FinalNorm, LmHead) = (source.Config, source.EmbedTokens, source.FinalNorm, source.LmHead);
        Layers = source.Layers.Select(l => new DecoderBlock(l)).ToArray();
    }

    /// <summary>
    /// A second model over the very same weight tensors (nothing copied) that can carry adapters of its own: RIL's
    /// discriminator starts from the student's weights, so with LoRA on both the two share one frozen base.
    /// Only sound while the shared weights stay frozen.
    /// </summary>
    public DecoderLM SharingWeights() => new(this);

    public IEnumerable<Tensor> Parameters()
    {
        yield return EmbedTokens;
        foreach (var l in Layers) foreach (var p in l.Parameters()) yield return p;
        yield return FinalNorm;
        if (!Config.TieWordEmbeddings) yield return LmHead;
    }

    /// <summary>Token embeddings [B, T, d] of ids [B·T].</summary>
    public Tensor Embed(int[] ids, int batch) => Ops.Reshape(Ops.Embedding(EmbedTokens, ids), batch, ids.Length / batch, Config.HiddenSize);

    /// <summary>
    /// Final hidden states [B, T, d] from input embeddings [B, T, d] (token embeddings, or a VLM's mix of token and
    /// image embeddings). Positions default to 0..T−1 per row. With a <paramref name="cache"/> the new tokens attend to
    /// the cached ones (inference only) and the cache advances by T. <paramref name="rotary"/>, when given, replaces the
    /// 1-D RoPE of <paramref name="positions"/> with precomputed angles [B·T, d/2] (Qwen2-VL's multimodal RoPE).
    /// <paramref name="afterLayer"/>, when given, maps each layer's output (layer index, hidden states) before the next
    /// layer reads it (Qwen3-VL's DeepStack adds visual features there).
    /// </summary>
    public Tensor Forward(Tensor embeds, int[]? positions = null, AttentionMask? mask = null, KvCache? cache = null, bool[]? cacheKeyValid = null,
                          RotaryTables? rotary = null, Func<int, Tensor, Tensor>? afterLayer = null)
    {
        int b = embeds.Shape[0], t = embeds.Shape[1];
        positions ??= Enumerable.Range(0, b * t).Select(i => (cache?.Length ?? 0) + i % t).ToArray();
        var x = embeds;
        for (int l = 0; l < Layers.Length; l++)
        {
            var layer = Layers[l];
            x = RecomputeActivations && cache is null
                ? Ops.Recompute(h => layer.Forward(h, positions, mask, rotary: rotary), x, layer.Parameters().Concat(Adapters?.ParametersOf(layer) ?? []), Adapters?.DropoutRng)
                : TensorScope.Layer(() => layer.Forward(x, positions, mask, cache, l, cacheKeyValid, rotary));
            if (afterLayer is not null) x = afterLayer(l, x);
        }
        cache?.Advance(t);
        return Ops.RmsNorm(x, FinalNorm, Config.RmsNormEps);
    }

    /// <summary>Final hidden states [B, T, d] for token ids [B·T].</summary>
    public Tensor Hidden(int[] ids, int batch, int[]? positions = null, AttentionMask? mask = null) => Forward(Embed(ids, batch), positions, mask);

    /// <summary>Logits [rows, vocab] of hidden states [..., d].</summary>
    public Tensor Head(Tensor hidden) => Ops.Linear(Ops.Reshape(hidden, -1, Config.HiddenSize), LmHead);

    /// <summary>Logits [B·T, vocab].</summary>
    public Tensor Logits(int[] ids, int batch, int[]? positions = null, AttentionMask? mask = null) => Head(Hidden(ids, batch, positions, mask));

    /// <summary>A KV cache sized for this model.</summary>
    public KvCache NewCache(int batch, int capacity) => new(Config.NumLayers, batch, Config.NumKvHeads, Config.HeadDim, capacity);

    // The family seam (ICausalLM): a text model with 1-D RoPE positions.
    public int HiddenSize => Config.HiddenSize;
    public int VocabSize => Config.VocabSize;
    public int ContextLength => Config.MaxPositions;
    public int ImageTokenId => -1;
    public bool AcceptsImages => false;
    public int PositionRank => 1;
    public Tensor? UntiedHead => Config.TieWordEmbeddings ? null : LmHead;

    /// <summary>0, 1, …, n − 1: a sequence's positions count its tokens.</summary>
    public int[] SequencePositions(ReadOnlySpan<int> ids, PixelInputs? images) => Enumerable.Range(0, ids.Length).ToArray();

    public Tensor Hidden(ModelInputs inputs, KvCache? cache = null, bool[]? cacheKeyValid = null)
    {
        if (inputs.Pixels is not null) throw new ArgumentException("this model has no vision tower: it cannot take images");
        return Forward(Embed(inputs.Ids, inputs.Rows), inputs.Positions1D, cache is null ? inputs.Mask : null, cache, cacheKeyValid);
    }

    public long KvCacheBytes(int rows, int capacity) => 2L * Config.NumLayers * rows * capacity * Config.NumKvHeads * Config.HeadDim * sizeof(float);
    public IEnumerable<Tensor> DecoderParameters() => Parameters();

    public LoraAdapters AttachLora(LoraConfig config, Rng rng) => LoraAdapters.Attach(this, config, rng);

    ICausalLM ICausalLM.BaseView() => SharingWeights();

    public ICausalLM LanguageModel(bool shareWeights, Rng rng)
    {
        if (shareWeights) return SharingWeights();
        var copy = new DecoderLM(Config, rng);
        // In order, not by name: a VLM's decoder may live under another prefix than the plain copy's "model.".
        foreach (var (p, source) in copy.Parameters().Zip(Parameters())) source.ToArray().CopyTo(p.Data);   // ToArray: these may be bf16
        return copy;
    }

    public JsonObject ConfigJson() => (JsonObject)JsonSerializer.SerializeToNode(Config)!;
}

/// <summary>One pre-norm block: grouped-query attention with RoPE, then a SwiGLU MLP.</summary>
public sealed class DecoderBlock
{
    readonly DecoderConfig _c;
    public Tensor InputNorm, QProj, KProj, VProj, OProj, PostNorm, GateProj, UpProj, DownProj;
    public Tensor? QBias, KBias, VBias;
    /// <summary>Qwen3's per-head RMSNorm weights [head_dim] on q and k (null for Llama and Qwen2).</summary>
    public Tensor? QNorm, KNorm;
    /// <summary>The model's LoRA adapters (see <see cref="DecoderLM.Adapters"/>), consulted by every projection.</summary>
    internal LoraAdapters? Adapters;

    public DecoderBlock(DecoderConfig c, int index, Rng? rng, float std, string prefix = "model.")
    {
        _c = c;
        string p = $"{prefix}layers.{index}.";
        int d = c.HiddenSize, qd = c.NumHeads * c.HeadDim, kv = c.NumKvHeads * c.HeadDim;
        Tensor W(string name, int rows, int cols) => Matrix(rng, std, rows, cols).AsParameter(p + name);
        InputNorm = Tensor.Ones(d).AsParameter(p + "input_layernorm.weight");
        QProj = W("self_attn.q_proj.weight", qd, d);
        KProj = W("self_attn.k_proj.weight", kv, d);
        VProj = W("self_attn.v_proj.weight", kv, d);
        OProj = W("self_attn.o_proj.weight", d, qd);
        if (c.QkNorm)
        {
            QNorm = Tensor.Ones(c.HeadDim).AsParameter(p + "self_attn.q_norm.weight");
            KNorm = Tensor.Ones(c.HeadDim).AsParameter(p + "self_attn.k_norm.weight");
        }
        if (c.AttentionBias)
        {
            QBias = Tensor.Zeros(qd).AsParameter(p + "self_attn.q_proj.bias");
            KBias = Tensor.Zeros(kv).AsParameter(p + "self_attn.k_proj.bias");
            VBias = Tensor.Zeros(kv).AsParameter(p + "self_attn.v_proj.bias");
        }
        PostNorm = Tensor.Ones(d).AsParameter(p + "post_attention_layernorm.weight");
        GateProj = W("mlp.gate_proj.weight", c.IntermediateSize, d);
        UpProj = W("mlp.up_proj.weight", c.IntermediateSize, d);
        DownProj = W("mlp.down_proj.weight", d, c.IntermediateSize);
    }

    /// <summary>A weight matrix drawn from N(0, std²), or left uninitialized (no rng) for a checkpoint to fill.</summary>
    internal static Tensor Matrix(Rng? rng, float std, int rows, int cols) => rng is null ? Tensor.Uninitialized(rows, cols) : Tensor.Randn(rng, std, rows, cols);

    /// <summary>A block over <paramref name="source"/>'s weight tensors, without its adapters.</summary>
    internal DecoderBlock(DecoderBlock source)
    {
        (_c, InputNorm, QProj, KProj, VProj, OProj, PostNorm) = (source._c, source.InputNorm, source.QProj, source.KProj, source.VProj, source.OProj, source.PostNorm);
        (GateProj, UpProj, DownProj, QBias, KBias, VBias) = (source.GateProj, source.UpProj, source.DownProj, source.QBias, source.KBias, source.VBias);
        (QNorm, KNorm) = (source.QNorm, source.KNorm);
    }

    public IEnumerable<Tensor> Parameters()
    {
        Tensor?[] all = [InputNorm, QProj, QBias, KProj, KBias, VProj, VBias, QNorm, KNorm, OProj, PostNorm, GateProj, UpProj, DownProj];
        return all.Where(t => t is not null)!;
    }

    /// <summary>x·Wᵀ + b, plus the LoRA update when W carries an active adapter.</summary>
    Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        var y = Ops.Linear(x, weight, bias);
        return Adapters?.Active(weight) is { } adapter ? Ops.Add(y, Adapters.Update(adapter, x)) : y;
    }

    /// <summary>
    /// x [B, T, d] → [B, T, d]; with a cache, attends over the cached tokens of this layer too. RoPE by
    /// <paramref name="positions"/>, or by <paramref name="rotary"/>'s precomputed angles when given.
    /// </summary>
    public Tensor Forward(Tensor x, int[] positions, AttentionMask? mask, KvCache? cache = null, int layer = 0, bool[]? cacheKeyValid = null,
                          RotaryTables? rotary = null)
    {
        int b = x.Shape[0], t = x.Shape[1];
        var h = Ops.RmsNorm(x, InputNorm, _c.RmsNormEps);
        Tensor Rotate(Tensor z) => rotary is null ? Ops.Rope(z, positions, _c.RopeTheta) : Ops.Rope(z, rotary);
        Tensor HeadNorm(Tensor z, Tensor? weight) => weight is null ? z : Ops.RmsNorm(z, weight, _c.RmsNormEps);   // Qwen3: before RoPE
        var q = Rotate(HeadNorm(Ops.Reshape(Linear(h, QProj, QBias), b, t, _c.NumHeads, _c.HeadDim), QNorm));
        var k = Rotate(HeadNorm(Ops.Reshape(Linear(h, KProj, KBias), b, t, _c.NumKvHeads, _c.HeadDim), KNorm));
        var v = Ops.Reshape(Linear(h, VProj, VBias), b, t, _c.NumKvHeads, _c.HeadDim);
        var a = cache is null ? Ops.Attention(q, k, v, mask) : cache.Attend(layer, q, k, v, cacheKeyValid);
        var attn = Ops.Reshape(a, b, t, _c.NumHeads * _c.HeadDim);
        x = Ops.Add(x, Linear(attn, OProj));
        h = Ops.RmsNorm(x, PostNorm, _c.RmsNormEps);
        var mlp = Linear(Ops.Mul(Ops.Silu(Linear(h, GateProj)), Linear(h, UpProj)), DownProj);   // SwiGLU
        return Ops.Add(x, mlp);
    }
}

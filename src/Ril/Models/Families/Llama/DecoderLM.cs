using Ril.Tensors.Memory;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Qwen35;
using Ril.Tensors;

namespace Ril.Models.Families.Llama;

/// <summary>
/// Llama/Qwen2 decoder: embed → N × [x + attn(rmsnorm(x)); x + mlp(rmsnorm(x))] → rmsnorm → lm_head.
/// Parameter names are Hugging Face's, so real checkpoints of those families map one to one. The text family's model,
/// and the language model inside Ril's own VLM layout. Qwen3.5's hybrid decoder is the same stack with a Gated DeltaNet
/// (<see cref="GatedDeltaNet"/>) in place of attention in the layers its layer_types say, zero-centred norms and gated
/// attention (docs/spec/QWEN3_5.md).
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

    /// <summary>The prefix of the decoder's parameter names: where its weights live in the checkpoint.</summary>
    public string NamePrefix { get; }

    /// <summary>
    /// Where transformers' model class keeps the decoder, the names PEFT's adapter files use: <see cref="NamePrefix"/>,
    /// except where the two part: Qwen2-VL's checkpoints say "model." where transformers ≥ 4.52 says
    /// "model.language_model." (docs/spec/QWEN2_VL.md §3).
    /// </summary>
    public string ModulePrefix { get; init; }

    /// <param name="rng">draws the initial weight matrices; null leaves them uninitialized, for a checkpoint to fill</param>
    /// <param name="prefix">where the decoder's weights live in the checkpoint ("model." for a text model; a VLM may nest it)</param>
    public DecoderLM(DecoderConfig config, Rng? rng, float initStd = 0.02f, string prefix = "model.")
    {
        config.Validate("DecoderLM");
        Config = config;
        NamePrefix = ModulePrefix = prefix;
        int d = config.HiddenSize;
        EmbedTokens = DecoderBlock.Matrix(rng, initStd, config.VocabSize, d).AsParameter(prefix + "embed_tokens.weight");
        Layers = Enumerable.Range(0, config.NumLayers).Select(i => new DecoderBlock(config, i, rng, initStd, prefix)).ToArray();
        FinalNorm = DecoderBlock.NormWeight(config, d).AsParameter(prefix + "norm.weight");
        LmHead = config.TieWordEmbeddings ? EmbedTokens : DecoderBlock.Matrix(rng, initStd, config.VocabSize, d).AsParameter("lm_head.weight");
    }

    DecoderLM(DecoderLM source)
    {
        (Config, EmbedTokens, FinalNorm, LmHead) = (source.Config, source.EmbedTokens, source.FinalNorm, source.LmHead);
        NamePrefix = ModulePrefix = source.NamePrefix;   // a copy is a text model of its own (the discriminator's backbone)
        Layers = source.Layers.Select(l => new DecoderBlock(l)).ToArray();
    }

    /// <summary>Cache slot of each layer: its index among the attention layers (KV cache) or among the linear ones (recurrent state).</summary>
    int[] Slots => _slots ??= Enumerable.Range(0, Config.NumLayers)
        .Select(l => Enumerable.Range(0, l).Count(i => Config.IsLinearAttention(i) == Config.IsLinearAttention(l))).ToArray();
    int[]? _slots;
    int LinearLayers => _linearLayers ??= Layers.Count(l => l.LinearAttention is not null);
    int? _linearLayers;

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
        // Linear-attention layers zero padding themselves: the real tokens are the mask's, or with a cache the new keys' flags.
        bool[]? valid = LinearLayers == 0 ? null : cache is null ? mask?.KeyValid : cacheKeyValid is null ? null
            : Enumerable.Range(0, b * t).Select(i => cacheKeyValid[i / t * cache.Capacity + cache.Length + i % t]).ToArray();
        for (int l = 0; l < Layers.Length; l++)
        {
            var layer = Layers[l];
            x = RecomputeActivations && cache is null
                ? Ops.Recompute(h => layer.Forward(h, positions, mask, rotary: rotary, valid: valid), x, layer.Parameters().Concat(Adapters?.ParametersOf(layer) ?? []), Adapters?.DropoutRng)
                : TensorScope.Layer(() => layer.Forward(x, positions, mask, cache, Slots[l], cacheKeyValid, rotary, valid));
            if (afterLayer is not null) x = afterLayer(l, x);
        }
        cache?.Advance(t);
        return FinalNormOf(x);
    }

    /// <summary>Final hidden states [B, T, d] for token ids [B·T].</summary>
    public Tensor Hidden(int[] ids, int batch, int[]? positions = null, AttentionMask? mask = null) => Forward(Embed(ids, batch), positions, mask);

    /// <summary>Logits [rows, vocab] of hidden states [..., d].</summary>
    public Tensor Head(Tensor hidden) => Ops.Linear(Ops.Reshape(hidden, -1, Config.HiddenSize), LmHead);

    /// <summary>The final norm: RMSNorm by w, or by 1 + w where the checkpoint stores zero-centred norms.</summary>
    Tensor FinalNormOf(Tensor x) => DecoderBlock.RmsNorm(Config, x, FinalNorm);

    /// <summary>Logits [B·T, vocab].</summary>
    public Tensor Logits(int[] ids, int batch, int[]? positions = null, AttentionMask? mask = null) => Head(Hidden(ids, batch, positions, mask));

    /// <summary>A KV cache sized for this model: keys and values of its attention layers, the state of its linear-attention ones.</summary>
    public KvCache NewCache(int batch, int capacity) => new(Config.NumLayers - LinearLayers, batch, Config.NumKvHeads, Config.HeadDim, capacity)
    {
        Recurrent = Layers.FirstOrDefault(l => l.LinearAttention is not null)?.LinearAttention!.NewCache(LinearLayers, batch),
    };

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

    public long KvCacheBytes(int rows, int capacity)
    {
        var linear = Layers.FirstOrDefault(l => l.LinearAttention is not null)?.LinearAttention;
        long recurrent = linear is null ? 0 : linear.StateFloats * LinearLayers;
        return (2L * (Config.NumLayers - LinearLayers) * capacity * Config.NumKvHeads * Config.HeadDim + recurrent) * rows * sizeof(float);
    }
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

/// <summary>
/// One pre-norm block: grouped-query attention with RoPE (or, on a Qwen3.5 linear-attention layer, a Gated DeltaNet),
/// then a SwiGLU MLP.
/// </summary>
public sealed class DecoderBlock
{
    readonly DecoderConfig _c;
    public Tensor InputNorm, PostNorm, GateProj, UpProj, DownProj;
    /// <summary>The attention projections; null on a linear-attention layer.</summary>
    public Tensor? QProj, KProj, VProj, OProj;
    /// <summary>Qwen3.5's Gated DeltaNet in place of attention (layer_types "linear_attention"); null on an attention layer.</summary>
    public GatedDeltaNet? LinearAttention;
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
        InputNorm = NormWeight(c, d).AsParameter(p + "input_layernorm.weight");
        if (c.IsLinearAttention(index)) LinearAttention = new GatedDeltaNet(c, p + "linear_attn.", rng, std);
        else
        {
            QProj = W("self_attn.q_proj.weight", c.AttentionOutputGate ? 2 * qd : qd, d);   // Qwen3.5: [q_h | gate_h] per head
            KProj = W("self_attn.k_proj.weight", kv, d);
            VProj = W("self_attn.v_proj.weight", kv, d);
            OProj = W("self_attn.o_proj.weight", d, qd);
        }
        if (c.QkNorm && LinearAttention is null)
        {
            QNorm = NormWeight(c, c.HeadDim).AsParameter(p + "self_attn.q_norm.weight");
            KNorm = NormWeight(c, c.HeadDim).AsParameter(p + "self_attn.k_norm.weight");
        }
        if (c.AttentionBias && LinearAttention is null)
        {
            QBias = Tensor.Zeros(qd).AsParameter(p + "self_attn.q_proj.bias");
            KBias = Tensor.Zeros(kv).AsParameter(p + "self_attn.k_proj.bias");
            VBias = Tensor.Zeros(kv).AsParameter(p + "self_attn.v_proj.bias");
        }
        PostNorm = NormWeight(c, d).AsParameter(p + "post_attention_layernorm.weight");
        GateProj = W("mlp.gate_proj.weight", c.IntermediateSize, d);
        UpProj = W("mlp.up_proj.weight", c.IntermediateSize, d);
        DownProj = W("mlp.down_proj.weight", d, c.IntermediateSize);
    }

    /// <summary>An RMSNorm weight that starts as the identity: ones, or zeros where the norm scales by 1 + w.</summary>
    internal static Tensor NormWeight(DecoderConfig c, int size) => c.ZeroCentredNorms ? Tensor.Zeros(size) : Tensor.Ones(size);

    /// <summary>RMSNorm x/rms(x)·w, or x/rms(x)·(1 + w) for zero-centred norms (docs/spec/QWEN3_5.md "The hybrid decoder").</summary>
    internal static Tensor RmsNorm(DecoderConfig c, Tensor x, Tensor weight) =>
        Ops.RmsNorm(x, c.ZeroCentredNorms ? Ops.AddScalar(weight, 1f) : weight, c.RmsNormEps);

    /// <summary>A weight matrix drawn from N(0, std²), or left uninitialized (no rng) for a checkpoint to fill.</summary>
    internal static Tensor Matrix(Rng? rng, float std, int rows, int cols) => rng is null ? Tensor.Uninitialized(rows, cols) : Tensor.Randn(rng, std, rows, cols);

    /// <summary>A block over <paramref name="source"/>'s weight tensors, without its adapters.</summary>
    internal DecoderBlock(DecoderBlock source)
    {
        (_c, InputNorm, QProj, KProj, VProj, OProj, PostNorm) = (source._c, source.InputNorm, source.QProj, source.KProj, source.VProj, source.OProj, source.PostNorm);
        (GateProj, UpProj, DownProj, QBias, KBias, VBias) = (source.GateProj, source.UpProj, source.DownProj, source.QBias, source.KBias, source.VBias);
        (QNorm, KNorm, LinearAttention) = (source.QNorm, source.KNorm, source.LinearAttention);   // the mixer holds weights only
    }

    public IEnumerable<Tensor> Parameters()
    {
        Tensor?[] attention = [QProj, QBias, KProj, KBias, VProj, VBias, QNorm, KNorm, OProj];
        var mixer = LinearAttention is { } linear ? linear.Parameters().Cast<Tensor?>() : attention;
        Tensor?[] all = [InputNorm, .. mixer, PostNorm, GateProj, UpProj, DownProj];
        return all.Where(t => t is not null).Select(t => t!);
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
    /// <param name="layer">the layer's cache slot: its index among the attention layers, or among the linear-attention ones</param>
    /// <param name="valid">real tokens [B·T] (a linear-attention layer zeroes the others); null: all</param>
    public Tensor Forward(Tensor x, int[] positions, AttentionMask? mask, KvCache? cache = null, int layer = 0, bool[]? cacheKeyValid = null,
                          RotaryTables? rotary = null, bool[]? valid = null)
    {
        var h = RmsNorm(_c, x, InputNorm);
        if (LinearAttention is not null && mask?.Prefixes is not null)   // a response would start from a zero state, not the prompt's
            throw new NotSupportedException("Shared prompts (trainer.share_prompt) need attention in every layer; this model has linear-attention layers: use trainer.pack");
        var mixed = LinearAttention is { } linear
            ? linear.Forward(h, (z, w) => Linear(z, w), valid, mask?.Segments, cache?.Recurrent, layer)
            : Attention(h, positions, mask, cache, layer, cacheKeyValid, rotary);
        x = Ops.Add(x, mixed);
        h = RmsNorm(_c, x, PostNorm);
        var mlp = Linear(Ops.Mul(Ops.Silu(Linear(h, GateProj)), Linear(h, UpProj)), DownProj);   // SwiGLU
        return Ops.Add(x, mlp);
    }

    /// <summary>Grouped-query attention of normed h [B, T, d], with Qwen3.5's output gate and partial rotary where configured.</summary>
    Tensor Attention(Tensor h, int[] positions, AttentionMask? mask, KvCache? cache, int layer, bool[]? cacheKeyValid, RotaryTables? rotary)
    {
        int b = h.Shape[0], t = h.Shape[1], hd = _c.HeadDim, rot = _c.RotaryDim;
        Tensor RotateAll(Tensor z) => rotary is null ? Ops.Rope(z, positions, _c.RopeTheta) : Ops.Rope(z, rotary);
        // Partial rotary (docs/spec/QWEN3_5.md "The hybrid decoder"): only the first rot dims of each head turn.
        Tensor Rotate(Tensor z) => rot == hd ? RotateAll(z) : Ops.Concat([RotateAll(Ops.Slice(z, 3, 0, rot)), Ops.Slice(z, 3, rot, hd - rot)], 3);
        Tensor HeadNorm(Tensor z, Tensor? weight) => weight is null ? z : RmsNorm(_c, z, weight);   // Qwen3: before RoPE
        var projected = Linear(h, QProj!, QBias);
        Tensor? gate = null;
        if (_c.AttentionOutputGate)
        {
            // Per head, hd query values then hd gate values.
            var qg = Ops.Reshape(projected, b, t, _c.NumHeads, 2 * hd);
            (projected, gate) = (Ops.Slice(qg, 3, 0, hd), Ops.Reshape(Ops.Slice(qg, 3, hd, hd), b, t, _c.NumHeads * hd));
        }
        var q = Rotate(HeadNorm(Ops.Reshape(projected, b, t, _c.NumHeads, hd), QNorm));
        var k = Rotate(HeadNorm(Ops.Reshape(Linear(h, KProj!, KBias), b, t, _c.NumKvHeads, hd), KNorm));
        var v = Ops.Reshape(Linear(h, VProj!, VBias), b, t, _c.NumKvHeads, hd);
        var a = cache is null ? Ops.Attention(q, k, v, mask) : cache.Attend(layer, q, k, v, cacheKeyValid);
        var attn = Ops.Reshape(a, b, t, _c.NumHeads * hd);
        if (gate is not null) attn = Ops.Mul(attn, Ops.Sigmoid(gate));                              // o ⊙ σ(gate), per dim
        return Linear(attn, OProj!);
    }
}

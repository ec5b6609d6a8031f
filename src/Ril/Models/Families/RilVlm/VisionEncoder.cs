using Ril.Tensors.Memory;
using Ril.Tensors;

namespace Ril.Models.Families.RilVlm;

/// <summary>
/// SigLIP vision encoder: patch embedding (a stride-p convolution, done as a linear map of flattened patches),
/// learned position embeddings, pre-LN blocks (attention, GELU MLP), post-LayerNorm. Names as transformers writes
/// them under "vision_model.".
/// </summary>
public sealed class VisionEncoder
{
    public VisionConfig Config { get; }
    public Tensor PatchWeight { get; }   // [d, C, p, p] in the checkpoint; used as [d, C·p·p]
    public Tensor PatchBias { get; }
    public Tensor PositionEmbedding { get; }
    public VisionBlock[] Layers { get; }
    public Tensor PostNormWeight { get; }
    public Tensor PostNormBias { get; }

    public VisionEncoder(VisionConfig c, Rng rng, string prefix = "vision_model.", float std = 0.02f)
    {
        c.Validate("VisionEncoder");
        Config = c;
        PatchWeight = Tensor.Randn(rng, std, c.HiddenSize, c.NumChannels, c.PatchSize, c.PatchSize).AsParameter(prefix + "embeddings.patch_embedding.weight");
        PatchBias = Tensor.Zeros(c.HiddenSize).AsParameter(prefix + "embeddings.patch_embedding.bias");
        PositionEmbedding = Tensor.Randn(rng, std, c.NumPatches, c.HiddenSize).AsParameter(prefix + "embeddings.position_embedding.weight");
        Layers = Enumerable.Range(0, c.NumLayers).Select(i => new VisionBlock(c, $"{prefix}encoder.layers.{i}.", rng, std)).ToArray();
        PostNormWeight = Tensor.Ones(c.HiddenSize).AsParameter(prefix + "post_layernorm.weight");
        PostNormBias = Tensor.Zeros(c.HiddenSize).AsParameter(prefix + "post_layernorm.bias");
    }

    public IEnumerable<Tensor> Parameters()
    {
        yield return PatchWeight; yield return PatchBias; yield return PositionEmbedding;
        foreach (var l in Layers) foreach (var p in l.Parameters()) yield return p;
        yield return PostNormWeight; yield return PostNormBias;
    }

    /// <summary>Patch features [B, N, d] of images [B, C, H, W] (normalised pixels, H = W = image_size).</summary>
    public Tensor Forward(Tensor pixels) => Forward(pixels, null, null);

    /// <summary>
    /// Patch features [B, N, d] of images [B, C, H, W] whose patches take position embeddings <paramref name="positionIds"/>
    /// [B·N] (null: 0…N−1, a full grid) and attend only to the patches <paramref name="patchValid"/> [B·N] marks (null: all),
    /// as Idefics3's tower reads a tile of which only part is image.
    /// </summary>
    public Tensor Forward(Tensor pixels, int[]? positionIds, bool[]? patchValid)
    {
        var c = Config;
        if (pixels.Rank != 4 || pixels.Shape[1] != c.NumChannels || pixels.Shape[2] != c.ImageSize || pixels.Shape[3] != c.ImageSize)
            throw new ArgumentException($"VisionEncoder: pixels {ShapeOf.Format(pixels.Shape)} must be [B, {c.NumChannels}, {c.ImageSize}, {c.ImageSize}]");
        int b = pixels.Shape[0], g = c.GridSize, p = c.PatchSize;
        // [B, C, g, p, g, p] → [B, g, g, C, p, p]: each patch flattened in the convolution weight's (C, p, p) order
        var patches = Ops.Reshape(Ops.Permute(Ops.Reshape(pixels, b, c.NumChannels, g, p, g, p), 0, 2, 4, 1, 3, 5), b, g * g, c.PatchDim);
        var x = Ops.Linear(patches, Ops.Reshape(PatchWeight, c.HiddenSize, c.PatchDim), PatchBias);
        positionIds ??= Enumerable.Range(0, b * g * g).Select(i => i % (g * g)).ToArray();   // a row lookup, which also reads a table frozen in bf16
        x = Ops.Add(x, Ops.Reshape(Ops.Embedding(PositionEmbedding, positionIds), b, g * g, c.HiddenSize));
        var mask = new AttentionMask(Causal: false, KeyValid: patchValid);
        foreach (var layer in Layers) { var input = x; x = TensorScope.Layer(() => layer.Forward(input, mask)); }
        return Ops.LayerNorm(x, PostNormWeight, PostNormBias, c.LayerNormEps);
    }
}

/// <summary>Pre-LN encoder block: x + out_proj(attn(ln1(x))); then x + fc2(gelu(fc1(ln2(x)))).</summary>
public sealed class VisionBlock
{
    readonly VisionConfig _c;
    public Tensor Ln1W, Ln1B, QW, QB, KW, KB, VW, VB, OW, OB, Ln2W, Ln2B, Fc1W, Fc1B, Fc2W, Fc2B;

    public VisionBlock(VisionConfig c, string p, Rng rng, float std)
    {
        _c = c;
        int d = c.HiddenSize, f = c.IntermediateSize;
        Tensor W(string n, int r, int k) => Tensor.Randn(rng, std, r, k).AsParameter(p + n);
        Tensor Z(string n, int r) => Tensor.Zeros(r).AsParameter(p + n);
        Ln1W = Tensor.Ones(d).AsParameter(p + "layer_norm1.weight"); Ln1B = Z("layer_norm1.bias", d);
        QW = W("self_attn.q_proj.weight", d, d); QB = Z("self_attn.q_proj.bias", d);
        KW = W("self_attn.k_proj.weight", d, d); KB = Z("self_attn.k_proj.bias", d);
        VW = W("self_attn.v_proj.weight", d, d); VB = Z("self_attn.v_proj.bias", d);
        OW = W("self_attn.out_proj.weight", d, d); OB = Z("self_attn.out_proj.bias", d);
        Ln2W = Tensor.Ones(d).AsParameter(p + "layer_norm2.weight"); Ln2B = Z("layer_norm2.bias", d);
        Fc1W = W("mlp.fc1.weight", f, d); Fc1B = Z("mlp.fc1.bias", f);
        Fc2W = W("mlp.fc2.weight", d, f); Fc2B = Z("mlp.fc2.bias", d);
    }

    public IEnumerable<Tensor> Parameters() => [Ln1W, Ln1B, QW, QB, KW, KB, VW, VB, OW, OB, Ln2W, Ln2B, Fc1W, Fc1B, Fc2W, Fc2B];

    public Tensor Forward(Tensor x, AttentionMask? mask = null)
    {
        int b = x.Shape[0], n = x.Shape[1], h = _c.NumHeads, hd = _c.HeadDim;
        var y = Ops.LayerNorm(x, Ln1W, Ln1B, _c.LayerNormEps);
        var q = Ops.Reshape(Ops.Linear(y, QW, QB), b, n, h, hd);
        var k = Ops.Reshape(Ops.Linear(y, KW, KB), b, n, h, hd);
        var v = Ops.Reshape(Ops.Linear(y, VW, VB), b, n, h, hd);
        var a = Ops.Reshape(Ops.Attention(q, k, v, mask ?? new AttentionMask(Causal: false)), b, n, _c.HiddenSize);
        x = Ops.Add(x, Ops.Linear(a, OW, OB));
        y = Ops.LayerNorm(x, Ln2W, Ln2B, _c.LayerNormEps);
        var hidden = Ops.Linear(y, Fc1W, Fc1B);
        hidden = _c.HiddenAct == "gelu" ? Ops.GeluExact(hidden) : Ops.GeluTanh(hidden);
        return Ops.Add(x, Ops.Linear(hidden, Fc2W, Fc2B));
    }
}

using Ril.Tensors.Memory;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>
/// The vision tower of Qwen2-VL and Qwen2.5-VL (docs/spec/QWEN2_VL.md §6): patch embedding (the Conv3d as one matrix),
/// pre-norm blocks with 2-D rotary attention inside each image (Qwen2.5-VL: inside 4×4-merged-token windows, whole images
/// in the full-attention blocks), then the merger: 2×2 neighbouring patches into one token of the language model's width.
/// Parameter names are the Hub's (visual.*).
/// </summary>
public sealed class Qwen2VisionTower
{
    readonly VisionTowerConfig _c;
    public Tensor PatchEmbed { get; }
    public Qwen2VisionBlock[] Blocks { get; }
    public Tensor MergerNorm { get; }
    public Tensor? MergerNormBias { get; }
    public Tensor Mlp0, Mlp0Bias, Mlp2, Mlp2Bias;
    public const float Eps = 1e-6f;   // the LayerNorm / RMSNorm epsilon of the tower and its merger

    public Qwen2VisionTower(VisionTowerConfig c, Rng rng, float std = 0.02f)
    {
        _c = c;
        int e = c.Width, merged = e * c.MergeSize * c.MergeSize;
        PatchEmbed = Tensor.Randn(rng, std, e, c.InChannels, c.TemporalPatchSize, c.PatchSize, c.PatchSize).AsParameter("visual.patch_embed.proj.weight");
        Blocks = Enumerable.Range(0, c.Depth).Select(b => new Qwen2VisionBlock(c, b, rng, std)).ToArray();
        MergerNorm = Tensor.Ones(e).AsParameter("visual.merger.ln_q.weight");
        MergerNormBias = c.Windowed ? null : Tensor.Zeros(e).AsParameter("visual.merger.ln_q.bias");
        Mlp0 = Tensor.Randn(rng, std, merged, merged).AsParameter("visual.merger.mlp.0.weight");
        Mlp0Bias = Tensor.Zeros(merged).AsParameter("visual.merger.mlp.0.bias");
        Mlp2 = Tensor.Randn(rng, std, c.OutWidth, merged).AsParameter("visual.merger.mlp.2.weight");
        Mlp2Bias = Tensor.Zeros(c.OutWidth).AsParameter("visual.merger.mlp.2.bias");
    }

    public IEnumerable<Tensor> Parameters()
    {
        yield return PatchEmbed;
        foreach (var b in Blocks) foreach (var p in b.Parameters()) yield return p;
        yield return MergerNorm;
        if (MergerNormBias is not null) yield return MergerNormBias;
        foreach (var p in new[] { Mlp0, Mlp0Bias, Mlp2, Mlp2Bias }) yield return p;
    }

    /// <summary>Image features [Σ t·h·w/m², D], one row per merged token, images in order, each in raster order.</summary>
    public Tensor Forward(PixelInputs pixels)
    {
        var values = pixels.Values;
        int n = pixels.Grids.Sum(g => g.Length == 3 ? g[0] * g[1] * g[2] : throw new ArgumentException("Qwen2-VL: every image grid must be [t, h, w]"));
        if (values.Rank != 2 || values.Shape[0] != n || values.Shape[1] != _c.PatchValues)
            throw new ArgumentException($"Qwen2-VL: pixel values {ShapeOf.Format(values.Shape)} do not match the grids' {n} patches of {_c.PatchValues} values");
        int m2 = _c.MergeSize * _c.MergeSize, e = _c.Width;
        if (pixels.Grids.Any(g => g[1] % _c.MergeSize != 0 || g[2] % _c.MergeSize != 0))
            throw new ArgumentException($"Qwen2-VL: image grids must be multiples of the merge size {_c.MergeSize}");
        var x = Ops.Linear(values, Ops.Reshape(PatchEmbed, e, _c.PatchValues));   // Conv3d with kernel = stride, no bias (§6.1)
        var (rows, cols, images) = PatchCoordinates(pixels.Grids, _c.MergeSize);
        int[]? windowOrder = null;
        int[] windowSegments = images;
        if (_c.Windowed)
        {
            (windowOrder, windowSegments) = WindowOrder(pixels.Grids);
            x = PermuteTokens(x, windowOrder, m2);                        // §6.5: reorder at merged-token granularity
            rows = PermuteRows(rows, windowOrder, m2);
            cols = PermuteRows(cols, windowOrder, m2);
            images = PermuteRows(images, windowOrder, m2);
        }
        var tables = RotaryTables(rows, cols, _c.HeadDim);
        x = Ops.Reshape(x, 1, n, e);
        for (int b = 0; b < Blocks.Length; b++)
        {
            bool full = !_c.Windowed || _c.FullAttentionBlocks.Contains(b);
            var (block, input) = (Blocks[b], x);
            x = TensorScope.Layer(() => block.Forward(input, tables, full ? images : windowSegments));
        }
        var h = Ops.Reshape(x, n, e);
        h = _c.Windowed ? Ops.RmsNorm(h, MergerNorm, Eps) : Ops.LayerNorm(h, MergerNorm, MergerNormBias, Eps);
        var y = Ops.Linear(Ops.GeluExact(Ops.Linear(Ops.Reshape(h, n / m2, e * m2), Mlp0, Mlp0Bias)), Mlp2, Mlp2Bias);   // §6.6
        if (windowOrder is null) return y;
        var inverse = new int[windowOrder.Length];
        for (int j = 0; j < windowOrder.Length; j++) inverse[windowOrder[j]] = j;
        return Ops.Embedding(y, inverse);                                    // undo the window order
    }

    /// <summary>Each patch's row and column in its image's patch grid, in merge-group order (§4.5), and its image-frame number.</summary>
    internal static (int[] Rows, int[] Cols, int[] Segments) PatchCoordinates(IReadOnlyList<int[]> grids, int m)
    {
        var rows = new List<int>(); var cols = new List<int>(); var segs = new List<int>();
        int segment = 0;
        foreach (var g in grids)
            for (int t = 0; t < g[0]; t++, segment++)
                for (int bh = 0; bh < g[1] / m; bh++)
                    for (int bw = 0; bw < g[2] / m; bw++)
                        for (int mh = 0; mh < m; mh++)
                            for (int mw = 0; mw < m; mw++) { rows.Add(bh * m + mh); cols.Add(bw * m + mw); segs.Add(segment); }
        return (rows.ToArray(), cols.ToArray(), segs.ToArray());
    }

    /// <summary>
    /// Qwen2.5-VL's window order (§6.5): merged tokens window by window (row-major windows of side ws, row-major inside),
    /// as raster indices over all images; and each patch's window number in that order.
    /// </summary>
    (int[] Order, int[] Segments) WindowOrder(IReadOnlyList<int[]> grids)
    {
        int ws = _c.WindowTokens, m2 = _c.MergeSize * _c.MergeSize, offset = 0, window = 0;
        var order = new List<int>(); var segments = new List<int>();
        foreach (var g in grids)
        {
            int lh = g[1] / _c.MergeSize, lw = g[2] / _c.MergeSize;
            for (int t = 0; t < g[0]; t++)
                for (int wy = 0; wy < lh; wy += ws)
                    for (int wx = 0; wx < lw; wx += ws, window++)
                        for (int y = wy; y < Math.Min(wy + ws, lh); y++)
                            for (int x = wx; x < Math.Min(wx + ws, lw); x++)
                            {
                                order.Add(offset + (t * lh + y) * lw + x);
                                for (int k = 0; k < m2; k++) segments.Add(window);
                            }
            offset += g[0] * lh * lw;
        }
        return (order.ToArray(), segments.ToArray());
    }

    static Tensor PermuteTokens(Tensor x, int[] order, int group)
    {
        int n = x.Shape[0], e = x.Shape[1];
        return Ops.Reshape(Ops.Embedding(Ops.Reshape(x, n / group, group * e), order), n, e);
    }

    static int[] PermuteRows(int[] values, int[] order, int group)
    {
        var result = new int[values.Length];
        for (int j = 0; j < order.Length; j++) Array.Copy(values, order[j] * group, result, j * group, group);
        return result;
    }

    /// <summary>2-D rotary angles (§6.2): the first dv/4 frequencies turn by the patch row, the next dv/4 by its column; θ = 10000.</summary>
    internal static RotaryTables RotaryTables(int[] rows, int[] cols, int dv)
    {
        int half = dv / 2, quarter = dv / 4;
        var cos = new float[rows.Length * half];
        var sin = new float[rows.Length * half];
        for (int r = 0; r < rows.Length; r++)
            for (int i = 0; i < half; i++)
            {
                int j = i % quarter;
                double angle = (i < quarter ? rows[r] : cols[r]) * (float)(1.0 / Math.Pow(10000.0, 2.0 * j / half));
                cos[r * half + i] = (float)Math.Cos(angle);
                sin[r * half + i] = (float)Math.Sin(angle);
            }
        return new RotaryTables(cos, sin);
    }
}

/// <summary>
/// One vision block: Qwen2-VL x + attn(LayerNorm(x)); x + fc2(QuickGELU(fc1(LayerNorm(x)))) — Qwen2.5-VL the same with
/// RMSNorm and a SwiGLU MLP whose projections have biases (docs/spec/QWEN2_VL.md §6.3, §6.4); Qwen3-VL Qwen2-VL's with
/// tanh-GELU and the layers named linear_fc1 / linear_fc2 (docs/spec/QWEN3_VL.md §6.4).
/// </summary>
public sealed class Qwen2VisionBlock
{
    readonly VisionTowerConfig _c;
    public Tensor Norm1, Norm2, Qkv, QkvBias, Proj, ProjBias;
    public Tensor? Norm1Bias, Norm2Bias;
    /// <summary>Qwen2-VL: fc1, fc2. Qwen2.5-VL: gate_proj, up_proj, down_proj.</summary>
    public Tensor[] MlpWeights, MlpBiases;
    const float Eps = Qwen2VisionTower.Eps;

    public Qwen2VisionBlock(VisionTowerConfig c, int index, Rng rng, float std)
    {
        _c = c;
        string p = $"{c.Prefix}blocks.{index}.";
        int e = c.Width, f = c.MlpWidth;
        Norm1 = Tensor.Ones(e).AsParameter(p + "norm1.weight");
        Norm2 = Tensor.Ones(e).AsParameter(p + "norm2.weight");
        if (!c.Windowed)
        {
            Norm1Bias = Tensor.Zeros(e).AsParameter(p + "norm1.bias");
            Norm2Bias = Tensor.Zeros(e).AsParameter(p + "norm2.bias");
        }
        Qkv = Tensor.Randn(rng, std, 3 * e, e).AsParameter(p + "attn.qkv.weight");
        QkvBias = Tensor.Zeros(3 * e).AsParameter(p + "attn.qkv.bias");
        Proj = Tensor.Randn(rng, std, e, e).AsParameter(p + "attn.proj.weight");
        ProjBias = Tensor.Zeros(e).AsParameter(p + "attn.proj.bias");
        (string Name, int Out, int In)[] mlp = c.Windowed
            ? [("gate_proj", f, e), ("up_proj", f, e), ("down_proj", e, f)]
            : c.LinearFcNames ? [("linear_fc1", f, e), ("linear_fc2", e, f)] : [("fc1", f, e), ("fc2", e, f)];
        MlpWeights = mlp.Select(l => Tensor.Randn(rng, std, l.Out, l.In).AsParameter($"{p}mlp.{l.Name}.weight")).ToArray();
        MlpBiases = mlp.Select(l => Tensor.Zeros(l.Out).AsParameter($"{p}mlp.{l.Name}.bias")).ToArray();
    }

    public IEnumerable<Tensor> Parameters()
    {
        Tensor?[] all = [Norm1, Norm1Bias, Qkv, QkvBias, Proj, ProjBias, Norm2, Norm2Bias];
        return all.Where(t => t is not null).Select(t => t!).Concat(MlpWeights.Zip(MlpBiases).SelectMany(w => new[] { w.First, w.Second }));
    }

    Tensor Norm(Tensor x, Tensor weight, Tensor? bias) => _c.Windowed ? Ops.RmsNorm(x, weight, Eps) : Ops.LayerNorm(x, weight, bias, Eps);

    Tensor Activation(Tensor z) => _c.Activation switch
    {
        "quick_gelu" => Ops.Mul(z, Ops.Sigmoid(Ops.MulScalar(z, 1.702f))),   // z·σ(1.702z)
        "gelu" => Ops.GeluExact(z),
        "gelu_pytorch_tanh" => Ops.GeluTanh(z),
        _ => Ops.Silu(z),
    };

    /// <summary>x [1, N, E]; attention only between patches of the same <paramref name="segments"/> number.</summary>
    public Tensor Forward(Tensor x, RotaryTables rotary, int[] segments)
    {
        int n = x.Shape[1], e = _c.Width, heads = _c.Heads, dv = _c.HeadDim;
        var qkv = Ops.Reshape(Ops.Linear(Norm(x, Norm1, Norm1Bias), Qkv, QkvBias), 1, n, 3, e);
        Tensor Part(int k) => Ops.Reshape(Ops.Slice(qkv, 2, k, 1), 1, n, heads, dv);
        var q = Ops.Rope(Part(0), rotary);
        var k = Ops.Rope(Part(1), rotary);
        var a = Ops.SegmentAttention(q, k, Part(2), segments);
        x = Ops.Add(x, Ops.Linear(Ops.Reshape(a, 1, n, e), Proj, ProjBias));
        var h = Norm(x, Norm2, Norm2Bias);
        var mlp = _c.Windowed
            ? Ops.Linear(Ops.Mul(Activation(Ops.Linear(h, MlpWeights[0], MlpBiases[0])), Ops.Linear(h, MlpWeights[1], MlpBiases[1])), MlpWeights[2], MlpBiases[2])
            : Ops.Linear(Activation(Ops.Linear(h, MlpWeights[0], MlpBiases[0])), MlpWeights[1], MlpBiases[1]);
        return Ops.Add(x, mlp);
    }
}

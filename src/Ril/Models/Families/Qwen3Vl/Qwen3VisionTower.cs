using Ril.Tensors.Memory;
using Ril.Models.Families.Qwen2Vl;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen3Vl;

/// <summary>
/// Qwen3-VL's vision tower (docs/spec/QWEN3_VL.md §6): patch embedding with a bias, plus the learned position table
/// resampled bilinearly (corner-aligned) to each image's patch grid and laid out in merge-group order; Qwen2-VL-style
/// blocks (LayerNorm, tanh-GELU MLP) with 2-D rotary attention over each whole image; the main merger, and one DeepStack
/// merger (normalising after the 2×2 concatenation) per tapped block. Parameter names are the Hub's (model.visual.*).
/// </summary>
public sealed class Qwen3VisionTower
{
    readonly VisionTowerConfig _c;
    readonly int[] _taps;
    readonly int _side;
    public Tensor PatchEmbed { get; }
    public Tensor PatchEmbedBias { get; }
    /// <summary>The learned position table [side², E], row-major over a side × side grid.</summary>
    public Tensor PositionTable { get; }
    public Qwen2VisionBlock[] Blocks { get; }
    public PatchMerger Merger { get; }
    public PatchMerger[] DeepstackMergers { get; }

    public Qwen3VisionTower(Qwen3VlConfig config, Rng rng, float std = 0.02f) : this(config.Vision, config.DeepstackIndexes, config.PositionTableSide, rng, std) { }

    /// <param name="taps">the blocks whose outputs feed DeepStack mergers (none for Qwen3.5)</param>
    /// <param name="side">the learned position table's side</param>
    public Qwen3VisionTower(VisionTowerConfig vision, int[] taps, int side, Rng rng, float std = 0.02f)
    {
        var c = _c = vision;
        (_taps, _side) = (taps, side);
        int e = c.Width;
        string p = c.Prefix;
        PatchEmbed = Tensor.Randn(rng, std, e, c.InChannels, c.TemporalPatchSize, c.PatchSize, c.PatchSize).AsParameter(p + "patch_embed.proj.weight");
        PatchEmbedBias = Tensor.Zeros(e).AsParameter(p + "patch_embed.proj.bias");
        PositionTable = Tensor.Randn(rng, std, _side * _side, e).AsParameter(p + "pos_embed.weight");
        Blocks = Enumerable.Range(0, c.Depth).Select(b => new Qwen2VisionBlock(c, b, rng, std)).ToArray();
        Merger = new PatchMerger(c, p + "merger.", postShuffleNorm: false, rng, std);
        DeepstackMergers = Enumerable.Range(0, _taps.Length).Select(k => new PatchMerger(c, $"{p}deepstack_merger_list.{k}.", postShuffleNorm: true, rng, std)).ToArray();
    }

    public IEnumerable<Tensor> Parameters()
    {
        yield return PatchEmbed;
        yield return PatchEmbedBias;
        yield return PositionTable;
        foreach (var b in Blocks) foreach (var t in b.Parameters()) yield return t;
        foreach (var t in Merger.Parameters()) yield return t;
        foreach (var m in DeepstackMergers) foreach (var t in m.Parameters()) yield return t;
    }

    /// <summary>
    /// Image features [Σ t·h·w/m², D] (one row per merged token, images in order, each in raster order) and the DeepStack
    /// features of the tapped blocks, each of the same shape, in the order of deepstack_visual_indexes.
    /// </summary>
    public (Tensor Features, Tensor[] Deepstack) Forward(PixelInputs pixels)
    {
        var values = pixels.Values;
        int n = pixels.Grids.Sum(g => g.Length == 3 ? g[0] * g[1] * g[2] : throw new ArgumentException("Qwen3-VL: every image grid must be [t, h, w]"));
        if (values.Rank != 2 || values.Shape[0] != n || values.Shape[1] != _c.PatchValues)
            throw new ArgumentException($"Qwen3-VL: pixel values {ShapeOf.Format(values.Shape)} do not match the grids' {n} patches of {_c.PatchValues} values");
        if (pixels.Grids.Any(g => g[1] % _c.MergeSize != 0 || g[2] % _c.MergeSize != 0))
            throw new ArgumentException($"Qwen3-VL: image grids must be multiples of the merge size {_c.MergeSize}");
        int e = _c.Width;
        var x = Ops.Linear(values, Ops.Reshape(PatchEmbed, e, _c.PatchValues), PatchEmbedBias);   // Conv3d, kernel = stride, with bias (§6.1)
        x = Ops.Add(x, Ops.MatMul(Tensor.FromArray(Interpolation(pixels.Grids), n, _side * _side), PositionTable));   // §6.2
        var (rows, cols, images) = Qwen2VisionTower.PatchCoordinates(pixels.Grids, _c.MergeSize);
        var tables = Qwen2VisionTower.RotaryTables(rows, cols, _c.HeadDim);
        x = Ops.Reshape(x, 1, n, e);
        var deepstack = new Tensor[_taps.Length];
        for (int b = 0; b < Blocks.Length; b++)
        {
            var (block, input) = (Blocks[b], x);
            x = TensorScope.Layer(() => block.Forward(input, tables, images));
            int k = Array.IndexOf(_taps, b);
            if (k >= 0) deepstack[k] = DeepstackMergers[k].Forward(Ops.Reshape(x, n, e));   // §6.6: the block's output
        }
        return (Merger.Forward(Ops.Reshape(x, n, e)), deepstack);
    }

    /// <summary>
    /// The bilinear resampling of the position table as a matrix [patches, side²] (§6.2, fast_pos_embed_interpolate):
    /// patch (i, j) of a gh × gw grid samples the table at (i·(side−1)/(gh−1), j·(side−1)/(gw−1)), corner-aligned; its
    /// four neighbours' weights are (1−dy)(1−dx), (1−dy)dx, dy(1−dx), dy·dx. Rows in merge-group order, repeated per frame.
    /// </summary>
    public float[] Interpolation(IReadOnlyList<int[]> grids)
    {
        int s = _side, m = _c.MergeSize, cols = s * s, total = grids.Sum(g => g[0] * g[1] * g[2]);
        var matrix = new float[(long)total * cols];
        static (int Low, int High, double Frac) Axis(int i, int g, int side)
        {
            double at = g == 1 ? 0 : (double)i * (side - 1) / (g - 1);
            int low = Math.Min((int)Math.Floor(at), side - 1);
            return (low, Math.Min(low + 1, side - 1), at - low);
        }
        int row = 0;
        foreach (var g in grids)
            for (int t = 0; t < g[0]; t++)
                for (int bh = 0; bh < g[1] / m; bh++)
                    for (int bw = 0; bw < g[2] / m; bw++)
                        for (int mh = 0; mh < m; mh++)
                            for (int mw = 0; mw < m; mw++, row++)
                            {
                                var (y0, y1, dy) = Axis(bh * m + mh, g[1], s);
                                var (x0, x1, dx) = Axis(bw * m + mw, g[2], s);
                                long r = (long)row * cols;
                                matrix[r + y0 * s + x0] += (float)((1 - dy) * (1 - dx));
                                matrix[r + y0 * s + x1] += (float)((1 - dy) * dx);
                                matrix[r + y1 * s + x0] += (float)(dy * (1 - dx));
                                matrix[r + y1 * s + x1] += (float)(dy * dx);
                            }
        return matrix;
    }
}

/// <summary>
/// A Qwen3-VL patch merger (§6.5): each m² consecutive patch rows (one merge group) become one token of the language
/// model's width: LayerNorm per patch then concatenation (the main merger), or concatenation then LayerNorm over m²·E
/// (the DeepStack mergers); then linear_fc1 → exact GELU → linear_fc2.
/// </summary>
public sealed class PatchMerger
{
    readonly bool _postShuffleNorm;
    readonly int _width, _merged;
    public Tensor Norm, NormBias, Fc1, Fc1Bias, Fc2, Fc2Bias;
    const float Eps = 1e-6f;

    public PatchMerger(VisionTowerConfig c, string prefix, bool postShuffleNorm, Rng rng, float std)
    {
        (_postShuffleNorm, _width, _merged) = (postShuffleNorm, c.Width, c.Width * c.MergeSize * c.MergeSize);
        int norm = postShuffleNorm ? _merged : _width;
        Norm = Tensor.Ones(norm).AsParameter(prefix + "norm.weight");
        NormBias = Tensor.Zeros(norm).AsParameter(prefix + "norm.bias");
        Fc1 = Tensor.Randn(rng, std, _merged, _merged).AsParameter(prefix + "linear_fc1.weight");
        Fc1Bias = Tensor.Zeros(_merged).AsParameter(prefix + "linear_fc1.bias");
        Fc2 = Tensor.Randn(rng, std, c.OutWidth, _merged).AsParameter(prefix + "linear_fc2.weight");
        Fc2Bias = Tensor.Zeros(c.OutWidth).AsParameter(prefix + "linear_fc2.bias");
    }

    public IEnumerable<Tensor> Parameters() => [Norm, NormBias, Fc1, Fc1Bias, Fc2, Fc2Bias];

    /// <summary>x [N, E] in merge-group order → [N/m², D].</summary>
    public Tensor Forward(Tensor x)
    {
        int groups = x.Shape[0] * _width / _merged;
        var h = _postShuffleNorm
            ? Ops.LayerNorm(Ops.Reshape(x, groups, _merged), Norm, NormBias, Eps)
            : Ops.Reshape(Ops.LayerNorm(x, Norm, NormBias, Eps), groups, _merged);
        return Ops.Linear(Ops.GeluExact(Ops.Linear(h, Fc1, Fc1Bias)), Fc2, Fc2Bias);
    }
}

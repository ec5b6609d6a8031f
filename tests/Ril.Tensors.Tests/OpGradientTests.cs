using static Ril.Tensors.Tests.GradCheck;

namespace Ril.Tensors.Tests;

/// <summary>Every op's backward against central finite differences, on random shapes with odd sizes and broadcasting.</summary>
public class OpGradientTests
{
    public static IEnumerable<object[]> Seeds => Enumerable.Range(1, 4).Select(i => new object[] { (ulong)i });

    /// <summary>Pairs of broadcast-compatible shapes drawn at random: b is a's shape with some dims set to 1 or dropped.</summary>
    static (int[] a, int[] b) BroadcastPair(Rng rng)
    {
        var a = Shape(rng, 1 + rng.NextInt(3));
        var b = a.Select(d => rng.NextInt(3) == 0 ? 1 : d).ToArray();
        int drop = rng.NextInt(b.Length);
        b = b[drop..];
        return rng.NextInt(2) == 0 ? (a, b) : (b, a);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Broadcast_add_sub_mul_div(ulong seed)
    {
        var rng = new Rng(seed);
        for (int trial = 0; trial < 3; trial++)
        {
            var (sa, sb) = BroadcastPair(rng);
            Check($"Add {ShapeOf.Format(sa)}+{ShapeOf.Format(sb)}", x => Ops.Add(x[0], x[1]), [Rand(rng, sa), Rand(rng, sb)]);
            Check($"Sub {ShapeOf.Format(sa)}-{ShapeOf.Format(sb)}", x => Ops.Sub(x[0], x[1]), [Rand(rng, sa), Rand(rng, sb)]);
            Check($"Mul {ShapeOf.Format(sa)}*{ShapeOf.Format(sb)}", x => Ops.Mul(x[0], x[1]), [Rand(rng, sa), Rand(rng, sb)]);
            Check($"Div {ShapeOf.Format(sa)}/{ShapeOf.Format(sb)}", x => Ops.Div(x[0], x[1]), [Rand(rng, sa), RandIn(rng, 1f, 2f, sb)]);
        }
        Check("Mul by scalar tensor", x => Ops.Mul(x[0], x[1]), [Rand(rng, 3, 5), Rand(rng)]);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Unary_ops(ulong seed)
    {
        var rng = new Rng(seed);
        var s = Shape(rng, 2, 9);
        Check("Exp", x => Ops.Exp(x[0]), [Rand(rng, s)]);
        Check("Log", x => Ops.Log(x[0]), [RandIn(rng, 0.5f, 3f, s)]);
        Check("Sqrt", x => Ops.Sqrt(x[0]), [RandIn(rng, 0.5f, 3f, s)]);
        Check("Rsqrt", x => Ops.Rsqrt(x[0]), [RandIn(rng, 0.5f, 3f, s)]);
        Check("Tanh", x => Ops.Tanh(x[0]), [Rand(rng, s)]);
        Check("Sigmoid", x => Ops.Sigmoid(x[0]), [Rand(rng, s)]);
        Check("Square", x => Ops.Square(x[0]), [Rand(rng, s)]);
        Check("Silu", x => Ops.Silu(x[0]), [Rand(rng, s)]);
        Check("GeluTanh", x => Ops.GeluTanh(x[0]), [Rand(rng, s)]);
        Check("GeluExact", x => Ops.GeluExact(x[0]), [Rand(rng, s)]);
        Check("AddScalar", x => Ops.AddScalar(x[0], 1.5f), [Rand(rng, s)]);
        Check("MulScalar", x => Ops.MulScalar(x[0], -0.7f), [Rand(rng, s)]);
        Check("Pow", x => Ops.Pow(x[0], 1.7f), [RandIn(rng, 0.5f, 2f, s)]);
        Check("Clamp", x => Ops.Clamp(x[0], -0.33f, 0.41f), [Distinct(rng, 0.07f, s)]);
    }

    [Fact]
    public void Large_unary_ops_take_the_parallel_path()
    {
        var rng = new Rng(5);
        Check("Silu (parallel chunks)", x => Ops.Silu(x[0]), [Rand(rng, 70_000)], maxProbes: 16);
        Check("GeluTanh (parallel chunks)", x => Ops.GeluTanh(x[0]), [Rand(rng, 40_001)], maxProbes: 16);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Minimum_and_maximum(ulong seed)
    {
        var rng = new Rng(seed);
        var s = Shape(rng, 2);
        var a = Distinct(rng, 0.1f, s);
        var b = Distinct(rng, 0.1f, s);
        for (int i = 0; i < b.Length; i++) b.Data[i] += 0.05f;   // never within h of a
        Check("Minimum", x => Ops.Minimum(x[0], x[1]), [a, b]);
        Check("Maximum", x => Ops.Maximum(x[0], x[1]), [a.Detach(), b.Detach()]);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Reductions(ulong seed)
    {
        var rng = new Rng(seed);
        var s = Shape(rng, 3);
        for (int axis = -3; axis < 3; axis++)
        {
            int ax = axis;
            Check($"Sum axis {ax}", x => Ops.Sum(x[0], ax), [Rand(rng, s)]);
            Check($"Mean axis {ax} keepDim", x => Ops.Mean(x[0], ax, keepDim: true), [Rand(rng, s)]);
            Check($"Max axis {ax}", x => Ops.Max(x[0], ax), [Distinct(rng, 0.05f, s)]);
        }
        Check("SumAll", x => Ops.SumAll(x[0]), [Rand(rng, s)]);
        Check("MeanAll", x => Ops.MeanAll(x[0]), [Rand(rng, s)]);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Softmax_family(ulong seed)
    {
        var rng = new Rng(seed);
        var s = Shape(rng, 3, 9);
        Check("Softmax", x => Ops.Softmax(x[0]), [Rand(rng, s)]);
        Check("LogSoftmax", x => Ops.LogSoftmax(x[0]), [Rand(rng, s)]);
        int rows = 1 + rng.NextInt(6), vocab = 2 + rng.NextInt(30);
        var ids = Enumerable.Range(0, rows).Select(_ => rng.NextInt(vocab)).ToArray();
        Check("SelectedLogProbs", x => Ops.SelectedLogProbs(x[0], ids), [Rand(rng, rows, vocab)]);
        Check("Entropy", x => Ops.Entropy(x[0]), [Rand(rng, rows, vocab)]);
        var targets = (int[])ids.Clone();
        targets[0] = -100;
        Check("CrossEntropy ignore-index", x => Ops.CrossEntropy(x[0], targets), [Rand(rng, rows, vocab)]);
    }

    [Fact]
    public void Fused_log_probs_over_a_large_vocabulary()
    {
        var rng = new Rng(3);
        int[] ids = [5, 4999, 17];
        Check("SelectedLogProbs V=5000", x => Ops.SelectedLogProbs(x[0], ids), [Rand(rng, 3, 5000)], maxProbes: 24);
        Check("Entropy V=5000", x => Ops.Entropy(x[0]), [Rand(rng, 3, 5000)], maxProbes: 24);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Norms(ulong seed)
    {
        var rng = new Rng(seed);
        var s = Shape(rng, 3, 9);
        int d = s[^1] + 1;
        s[^1] = d;
        Check("RmsNorm", x => Ops.RmsNorm(x[0], x[1], 1e-5f), [Rand(rng, s), RandIn(rng, 0.5f, 1.5f, d)]);
        Check("LayerNorm", x => Ops.LayerNorm(x[0], x[1], x[2], 1e-5f), [Rand(rng, s), RandIn(rng, 0.5f, 1.5f, d), Rand(rng, d)]);
        Check("LayerNorm no bias", x => Ops.LayerNorm(x[0], x[1], null, 1e-5f), [Rand(rng, s), RandIn(rng, 0.5f, 1.5f, d)]);
        Check("RmsNorm many rows (parallel)", x => Ops.RmsNorm(x[0], x[1], 1e-5f), [Rand(rng, 600, 64), RandIn(rng, 0.5f, 1.5f, 64)], maxProbes: 24);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void MatMul_all_variants(ulong seed)
    {
        var rng = new Rng(seed);
        int m = 1 + rng.NextInt(9), n = 1 + rng.NextInt(9), k = 1 + rng.NextInt(9), batch = 1 + rng.NextInt(3);
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
            {
                int[] sa = ta ? [batch, k, m] : [batch, m, k];
                int[] sb = tb ? [batch, n, k] : [batch, k, n];
                int[] sb2 = tb ? [n, k] : [k, n];
                Check($"MatMul batched tA={ta} tB={tb}", x => Ops.MatMul(x[0], x[1], ta, tb), [Rand(rng, sa), Rand(rng, sb)]);
                Check($"MatMul shared B tA={ta} tB={tb}", x => Ops.MatMul(x[0], x[1], ta, tb), [Rand(rng, sa), Rand(rng, sb2)]);
                Check($"MatMul 2-D tA={ta} tB={tb}", x => Ops.MatMul(x[0], x[1], ta, tb), [Rand(rng, sa[1..]), Rand(rng, sb2)]);
            }
        Check("Linear with bias", x => Ops.Linear(x[0], x[1], x[2]), [Rand(rng, 2, 3, k), Rand(rng, n, k), Rand(rng, n)]);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Layout_ops(ulong seed)
    {
        var rng = new Rng(seed);
        var s = Shape(rng, 3);
        Check("Reshape", x => Ops.Reshape(x[0], -1), [Rand(rng, s)]);
        Check("Transpose", x => Ops.Transpose(x[0], 0, 2), [Rand(rng, s)]);
        Check("Permute 1,2,0", x => Ops.Permute(x[0], 1, 2, 0), [Rand(rng, s)]);
        Check("Permute 0,2,1", x => Ops.Permute(x[0], 0, 2, 1), [Rand(rng, s)]);
        Check("Permute 4-D", x => Ops.Permute(x[0], 0, 2, 1, 3), [Rand(rng, 2, 3, 4, 5)]);
        int axis = rng.NextInt(3), start = rng.NextInt(s[axis]), len = 1 + rng.NextInt(s[axis] - start);
        Check("Slice", x => Ops.Slice(x[0], axis, start, len), [Rand(rng, s)]);
        var s2 = (int[])s.Clone();
        s2[axis] = 1 + rng.NextInt(4);
        Check("Concat", x => Ops.Concat([x[0], x[1]], axis), [Rand(rng, s), Rand(rng, s2)]);
        // A view used twice: gradients from both uses accumulate.
        Check("Reshape reused", x => Ops.Add(Ops.Reshape(x[0], -1), Ops.Reshape(Ops.Square(x[0]), -1)), [Rand(rng, s)]);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Embedding_rope_dropout(ulong seed)
    {
        var rng = new Rng(seed);
        int vocab = 3 + rng.NextInt(8), d = 2 + rng.NextInt(6);
        var ids = Enumerable.Range(0, 9).Select(_ => rng.NextInt(vocab)).ToArray();   // repeats likely
        Check("Embedding", x => Ops.Embedding(x[0], ids), [Rand(rng, vocab, d)]);

        int b = 2, t = 1 + rng.NextInt(6), h = 1 + rng.NextInt(3), hd = 2 * (1 + rng.NextInt(4));
        var pos = Enumerable.Range(0, b * t).Select(i => (i % t) * 3 + 1).ToArray();
        Check("Rope", x => Ops.Rope(x[0], pos, 10000f), [Rand(rng, b, t, h, hd)]);

        Check("Dropout", x => Ops.Dropout(x[0], 0.3f, new Rng(7)), [Rand(rng, 4, 9)]);
        int[] rows = [3, 0, 5];
        Check("ReplaceRows", x => Ops.ReplaceRows(x[0], rows, x[1]), [Rand(rng, 7, d), Rand(rng, 3, d)]);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void Attention_variants(ulong seed)
    {
        var rng = new Rng(seed);
        int b = 1 + rng.NextInt(2), t = 1 + rng.NextInt(5), hkv = 1 + rng.NextInt(2), group = 1 + rng.NextInt(2), d = 1 + rng.NextInt(6);
        int hq = hkv * group;
        Check("Attention causal GQA", x => Ops.Attention(x[0], x[1], x[2]), [Rand(rng, b, t, hq, d), Rand(rng, b, t, hkv, d), Rand(rng, b, t, hkv, d)]);
        Check("Attention bidirectional", x => Ops.Attention(x[0], x[1], x[2], new AttentionMask(Causal: false)),
            [Rand(rng, b, t, hq, d), Rand(rng, b, t + 2, hkv, d), Rand(rng, b, t + 2, hkv, d)]);
        int s = t + 3;
        var valid = Enumerable.Range(0, b * s).Select(i => i % s >= (i / s)).ToArray();   // row r has r padding keys on the left
        Check("Attention padded, queries after cached keys", x => Ops.Attention(x[0], x[1], x[2], new AttentionMask(true, valid)),
            [Rand(rng, b, t, hq, d), Rand(rng, b, s, hkv, d), Rand(rng, b, s, hkv, d)]);
        int packed = t + 4;
        var segments = Enumerable.Range(0, b * packed).Select(i => i % packed < 1 + (i / packed) ? 0 : i % packed < t ? 1 : 2).ToArray();   // three sequences a row
        Check("Attention packed sequences", x => Ops.Attention(x[0], x[1], x[2], new AttentionMask(true, Segments: segments)),
            [Rand(rng, b, packed, hq, d), Rand(rng, b, packed, hkv, d), Rand(rng, b, packed, hkv, d)]);
    }

    [Fact]
    public void Segment_attention_equals_the_masked_form_and_has_its_gradients()
    {
        var rng = new Rng(12);
        int[][] layouts = [[0, 0, 0, 1, 1, 2, 2, 2, 2], [4, 4, 4, 4], [0, 1, 0, 1, 2]];   // three runs; one run; not contiguous (the fallback)
        foreach (var segments in layouts)
        {
            int n = segments.Length;
            Tensor[] x = [Rand(rng, 1, n, 2, 3), Rand(rng, 1, n, 2, 3), Rand(rng, 1, n, 2, 3)];
            var masked = Ops.Attention(x[0], x[1], x[2], new AttentionMask(Causal: false, Segments: segments)).ToArray();
            var runs = Ops.SegmentAttention(x[0], x[1], x[2], segments).ToArray();
            for (int i = 0; i < masked.Length; i++) Assert.Equal(masked[i], runs[i], 1e-6);
            Check($"SegmentAttention [{string.Join(",", segments)}]", y => Ops.SegmentAttention(y[0], y[1], y[2], segments), x);
        }
    }

    [Fact]
    public void Attention_over_several_causal_query_blocks()
    {
        // Causal attention works in blocks of 64 queries that skip invisible keys: cross a block edge, with padding.
        var rng = new Rng(8);
        int t = 70, s = 75;
        var valid = Enumerable.Range(0, s).Select(j => j >= 2).ToArray();
        Check("Attention T=70 S=75 causal", x => Ops.Attention(x[0], x[1], x[2], new AttentionMask(true, valid)),
            [Rand(rng, 1, t, 2, 3), Rand(rng, 1, s, 1, 3), Rand(rng, 1, s, 1, 3)], maxProbes: 40);
    }
}

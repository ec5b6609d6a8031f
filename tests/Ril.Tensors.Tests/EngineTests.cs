using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Tensors.Tests;

/// <summary>Autograd mechanics, memory scopes, the KV cache, determinism, shape errors and file IO.</summary>
public class EngineTests
{
    [Fact]
    public void Gradient_check_rejects_a_wrong_backward()
    {
        // An op whose backward is off by 10%: the harness must catch it, or the op tests prove nothing.
        static Tensor WrongSquare(Tensor x)
        {
            var y = Tensor.FromArray(x.Data.ToArray().Select(v => v * v).ToArray(), x.Shape);
            return Tape.Record(y, "WrongSquare", [x], o =>
            {
                var dx = x.GradData();
                for (int i = 0; i < dx.Length; i++) dx[i] += o.Grad!.Data[i] * 2.2f * x.Data[i];
            });
        }
        var rng = new Rng(1);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => GradCheck.Check("wrong", x => WrongSquare(x[0]), [GradCheck.RandIn(rng, 0.5f, 1f, 5)]));
    }

    [Fact]
    public void Gradients_accumulate_across_uses_and_backward_calls()
    {
        var w = Tensor.FromArray([2f, 3f], 2).AsParameter("w");
        var y = Ops.SumAll(Ops.Add(Ops.Mul(w, w), w));     // Σ w² + w  → grad 2w + 1
        y.Backward();
        Assert.Equal([5f, 7f], w.Grad!.ToArray());
        Ops.SumAll(w).Backward();                            // accumulates +1
        Assert.Equal([6f, 8f], w.Grad!.ToArray());
        w.ZeroGrad();
        Assert.Equal([0f, 0f], w.Grad!.ToArray());
    }

    [Fact]
    public void NoGrad_and_Detach_record_nothing()
    {
        var w = Tensor.FromArray([1f, 2f], 2).AsParameter("w");
        using (NoGrad.Begin())
        {
            var y = Ops.Mul(w, w);
            Assert.False(y.RequiresGrad);
            Assert.Throws<InvalidOperationException>(() => Ops.SumAll(y).Backward());
        }
        var d = Ops.Mul(w, w).Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
    }

    [Fact]
    public void Shape_errors_name_the_op_and_both_shapes()
    {
        var a = Tensor.Zeros(2, 3); var b = Tensor.Zeros(4, 5);
        var e = Assert.Throws<ArgumentException>(() => Ops.MatMul(a, b));
        Assert.Contains("MatMul", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4, 5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ops.Add(Tensor.Zeros(2, 3), Tensor.Zeros(4)));
        Assert.Contains("Add", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4]", e.Message);
    }

    [Fact]
    public void The_pool_keeps_a_third_of_memory_at_least_4_GiB_unless_told_otherwise()
    {
        const long GiB = 1L << 30;
        Assert.Equal(GiB, BufferPool.DefaultCapacityFloats(4 * GiB, null));              // floats: 4 GiB
        Assert.Equal(24 * GiB / 12, BufferPool.DefaultCapacityFloats(24 * GiB, null));   // 8 GiB of a 24 GiB machine
        Assert.Equal(256 * 262_144L, BufferPool.DefaultCapacityFloats(24 * GiB, "256"));  // RIL_POOL_MB=256
        Assert.Equal(GiB, BufferPool.DefaultCapacityFloats(2 * GiB, "many"));            // not a number: the rule
        Assert.True(BufferPool.CapacityFloats >= GiB || Environment.GetEnvironmentVariable("RIL_POOL_MB") is not null);
    }

    [Fact]
    public void Scope_returns_buffers_and_a_repeated_step_stops_allocating()
    {
        var rng = new Rng(3);
        var w = Tensor.Randn(rng, 0.1f, 64, 64).AsParameter("w");
        var x = Tensor.Randn(rng, 1f, 32, 64);
        void Step()
        {
            using var scope = TensorScope.Begin();
            var h = Ops.Silu(Ops.MatMul(x, w, transB: true));
            Ops.MeanAll(Ops.Softmax(h)).Backward();
        }
        Step(); Step();
        long before = BufferPool.Allocations;
        for (int i = 0; i < 5; i++) Step();
        Assert.Equal(before, BufferPool.Allocations);

        Tensor leaked;
        using (TensorScope.Begin()) leaked = Ops.Exp(x);
        Assert.Throws<ObjectDisposedException>(() => leaked.Data[0]);
        Tensor kept;
        using (TensorScope.Begin()) kept = TensorScope.Escape(Ops.Exp(x));
        Assert.Equal(MathF.Exp(x.Data[0]), kept.Data[0]);
    }

    [Fact]
    public void Results_are_deterministic_for_a_seed_and_thread_count()
    {
        float[] Run()
        {
            var rng = new Rng(11);
            var w = Tensor.Randn(rng, 0.1f, 96, 80).AsParameter("w");
            var x = Tensor.Randn(rng, 1f, 300, 80);
            Ops.MeanAll(Ops.RmsNorm(Ops.MatMul(x, w, transB: true), Tensor.Ones(96), 1e-6f)).Backward();
            return w.Grad!.ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Kv_cache_decoding_equals_full_attention()
    {
        var rng = new Rng(5);
        int b = 2, t = 6, hq = 4, hkv = 2, d = 8;
        var q = Tensor.Randn(rng, 1f, b, t, hq, d);
        var k = Tensor.Randn(rng, 1f, b, t, hkv, d);
        var v = Tensor.Randn(rng, 1f, b, t, hkv, d);
        var valid = new bool[b * t];
        for (int i = 0; i < valid.Length; i++) valid[i] = !(i / t == 1 && i % t < 2);   // row 1: two left-padding keys
        var full = Ops.Attention(q, k, v, new AttentionMask(true, valid));

        var cache = new KvCache(layers: 1, b, hkv, d, capacity: 16);
        var cacheValid = new bool[b * 16];
        for (int bi = 0; bi < b; bi++) for (int j = 0; j < t; j++) cacheValid[bi * 16 + j] = valid[bi * t + j];
        // Prefill 4 tokens, then decode 2 one at a time.
        var outs = new List<Tensor> { cache.Attend(0, Ops.Slice(q, 1, 0, 4), Ops.Slice(k, 1, 0, 4), Ops.Slice(v, 1, 0, 4), cacheValid) };
        cache.Advance(4);
        for (int step = 4; step < t; step++)
        {
            outs.Add(cache.Attend(0, Ops.Slice(q, 1, step, 1), Ops.Slice(k, 1, step, 1), Ops.Slice(v, 1, step, 1), cacheValid));
            cache.Advance(1);
        }
        var decoded = Ops.Concat(outs, 1);
        for (int i = 0; i < full.Length; i++) Assert.True(Math.Abs(full.Data[i] - decoded.Data[i]) < 1e-5f, $"element {i}: {full.Data[i]} vs {decoded.Data[i]}");
    }

    [Fact]
    public void Packed_sequences_attend_as_if_alone()
    {
        // Three sequences of 5, 9 and 3 tokens end to end in one row (then 3 padding keys), against each one alone.
        var rng = new Rng(9);
        int[] lengths = [5, 9, 3];
        int hq = 4, hkv = 2, d = 8, s = lengths.Sum() + 3;
        var q = Tensor.Randn(rng, 1f, 1, s, hq, d);
        var k = Tensor.Randn(rng, 1f, 1, s, hkv, d);
        var v = Tensor.Randn(rng, 1f, 1, s, hkv, d);
        var segments = lengths.SelectMany((n, i) => Enumerable.Repeat(i, n)).Concat(Enumerable.Repeat(-1, 3)).ToArray();
        var valid = segments.Select(g => g >= 0).ToArray();
        var packed = Ops.Attention(q, k, v, new AttentionMask(true, valid, Segments: segments));
        int start = 0;
        foreach (int n in lengths)
        {
            var alone = Ops.Attention(Ops.Slice(q, 1, start, n), Ops.Slice(k, 1, start, n), Ops.Slice(v, 1, start, n));
            var part = Ops.Slice(packed, 1, start, n);
            for (int i = 0; i < alone.Length; i++) Assert.True(Math.Abs(alone.Data[i] - part.Data[i]) < 1e-6f, $"sequence at {start}, element {i}: {alone.Data[i]} vs {part.Data[i]}");
            start += n;
        }
        Assert.All(Ops.Slice(packed, 1, start, 3).ToArray(), x => Assert.Equal(0f, x));   // padding queries see nothing
    }

    [Fact]
    public void Fully_masked_query_outputs_zeros_not_nan()
    {
        var rng = new Rng(2);
        var q = Tensor.Randn(rng, 1f, 1, 3, 1, 4);
        var k = Tensor.Randn(rng, 1f, 1, 3, 1, 4);
        var o = Ops.Attention(q, k, k, new AttentionMask(true, [false, true, true]));
        Assert.All(o.Data[..4].ToArray(), v => Assert.Equal(0f, v));   // query 0 sees only key 0, which is padding
        Assert.All(o.ToArray(), v => Assert.False(float.IsNaN(v)));
    }

    [Fact]
    public void Scores_above_exps_range_stay_finite()
    {
        // exp overflows float32 above ~88.7: a softmax must subtract the row's maximum first (a trained vision tower hit this).
        var x = Tensor.FromArray([100f, 90f, 1f, 300f, 299f, -300f], 2, 3);
        var y = Ops.Softmax(x);
        double e10 = Math.Exp(-10), e1 = Math.Exp(-1);
        double[] expected = [1 / (1 + e10), e10 / (1 + e10), 0, 1 / (1 + e1), e1 / (1 + e1), 0];
        for (int i = 0; i < 6; i++) Assert.True(Math.Abs(y.Data[i] - expected[i]) < 1e-6, $"softmax element {i}: {y.Data[i]} vs {expected[i]}");

        // Attention whose scores q·k/√D reach the hundreds, against a float64 softmax of the same scores.
        var rng = new Rng(3);
        int t = 5, d = 4;
        var q = Ops.MulScalar(Tensor.Randn(rng, 1f, 1, t, 1, d), 30f);
        var k = Ops.MulScalar(Tensor.Randn(rng, 1f, 1, t, 1, d), 30f);
        var v = Tensor.Randn(rng, 1f, 1, t, 1, d);
        foreach (bool causal in new[] { false, true })
        {
            var o = Ops.Attention(q, k, v, new AttentionMask(causal));
            for (int i = 0; i < t; i++)
            {
                int visible = causal ? i + 1 : t;
                var scores = Enumerable.Range(0, visible).Select(j => Enumerable.Range(0, d).Sum(c => (double)q.Data[i * d + c] * k.Data[j * d + c]) / Math.Sqrt(d)).ToArray();
                double max = scores.Max(), total = scores.Sum(s => Math.Exp(s - max));
                for (int c = 0; c < d; c++)
                {
                    double want = Enumerable.Range(0, visible).Sum(j => Math.Exp(scores[j] - max) / total * v.Data[j * d + c]);
                    Assert.True(Math.Abs(o.Data[i * d + c] - want) < 1e-4, $"causal={causal} query {i} channel {c}: {o.Data[i * d + c]} vs {want} (max score {max:F0})");
                }
            }
        }
    }

    [Fact]
    public void Safetensors_round_trip_and_half_precision_reads()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ril-st-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Write(path, [new("a", [2, 3], [1, 2, 3, 4, 5, 6]), new("b", [1], [-0.5f])], new Dictionary<string, string> { ["k"] = "v" });
            var f = SafeTensors.Read(path);
            Assert.Equal([2, 3], f["a"].Shape);
            Assert.Equal([1f, 2, 3, 4, 5, 6], f["a"].Data);
            Assert.Equal([-0.5f], f["b"].Data);
            Assert.Equal("v", f.Metadata["k"]);
        }
        finally { File.Delete(path); }

        // BF16 1.0 = 0x3F80, F16 −2.0 = 0xC000: hand-built file
        var header = """{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},"y":{"dtype":"F16","shape":[1],"data_offsets":[2,4]}}""";
        var bytes = new List<byte>(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(header));
        bytes.AddRange([0x80, 0x3F, 0x00, 0xC0]);
        var parsed = SafeTensors.Parse(bytes.ToArray(), "hand-built");
        Assert.Equal(1f, parsed["x"].Data[0]);
        Assert.Equal(-2f, parsed["y"].Data[0]);

        var bad = Assert.Throws<InvalidDataException>(() => SafeTensors.Parse(bytes.Take(bytes.Count - 1).ToArray(), "cut.safetensors"));
        Assert.Contains("cut.safetensors", bad.Message);
        Assert.Contains("'y'", bad.Message);
    }

    [Fact]
    public void Thread_counts_agree()
    {
        int saved = WorkerPool.Shared.Threads;
        try
        {
            float[] Run(int threads)
            {
                WorkerPool.SetThreads(threads);
                var rng = new Rng(4);
                var x = Tensor.Randn(rng, 1f, 2, 40, 4, 16).AsParameter("x");
                var k = Tensor.Randn(rng, 1f, 2, 40, 2, 16).AsParameter("k");
                Ops.MeanAll(Ops.Silu(Ops.Attention(x, k, k))).Backward();
                return x.Grad!.ToArray().Concat(k.Grad!.ToArray()).ToArray();
            }
            var one = Run(1); var two = Run(2);
            for (int i = 0; i < one.Length; i++) Assert.True(Math.Abs(one[i] - two[i]) <= 1e-6f + 1e-4f * Math.Abs(one[i]), $"{i}: {one[i]} vs {two[i]}");
        }
        finally { WorkerPool.SetThreads(saved); }
    }
}

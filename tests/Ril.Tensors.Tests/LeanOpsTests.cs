using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using static Ril.Tensors.Tests.GradCheck;

namespace Ril.Tensors.Tests;

/// <summary>bf16 storage and its products, LoRA's low-rank update and activation recomputation.</summary>
public class LeanOpsTests
{
    [Fact]
    public void Bf16_rounds_to_nearest_even_and_widens_exactly()
    {
        Assert.Equal(1f, BFloat16.ToFloat(BFloat16.FromFloat(1f)));
        Assert.Equal(1f, BFloat16.ToFloat(BFloat16.FromFloat(1f + MathF.Pow(2, -8))));                         // halfway: to the even 1
        Assert.Equal(1f + MathF.Pow(2, -6), BFloat16.ToFloat(BFloat16.FromFloat(1f + 3 * MathF.Pow(2, -8))));   // halfway: to the even 1 + 2⁻⁶
        Assert.Equal(1f + MathF.Pow(2, -7), BFloat16.ToFloat(BFloat16.FromFloat(1f + 1.5f * MathF.Pow(2, -8) + MathF.Pow(2, -12))));
        Assert.Equal(float.PositiveInfinity, BFloat16.ToFloat(BFloat16.FromFloat(float.PositiveInfinity)));
        Assert.True(float.IsNaN(BFloat16.ToFloat(BFloat16.FromFloat(float.NaN))));
        Assert.Equal(-0f, BFloat16.ToFloat(BFloat16.FromFloat(-0f)));

        var rng = new Rng(5);
        var values = Tensor.Randn(rng, 3f, 1000).ToArray();
        var words = new ushort[values.Length];
        BFloat16.Encode(values, words);
        var widened = new float[values.Length];
        var reference = new float[values.Length];
        BFloat16.Decode(words, widened);
        BFloat16.DecodeReference(words, reference);
        Assert.Equal(reference, widened);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.True(MathF.Abs(widened[i] - values[i]) <= MathF.Abs(values[i]) * MathF.Pow(2, -8), $"{values[i]} → {widened[i]}: more than half an ulp of bf16 away");
            Assert.Equal(words[i], BFloat16.FromFloat(widened[i]));   // a bf16 value survives the round trip unchanged
        }
    }

    [Fact]
    public void Bf16_rounding_matches_pytorch()
    {
        // tests/fixtures/make_bf16_fixtures.py: halfway cases, subnormals, overflow, infinities and normals at 1e-30..1e30.
        var file = IO.SafeTensors.Read(Path.Combine(Fixtures.Torch, "bf16.safetensors"));
        var input = file["input"].Data;
        var expected = file["bf16"].Data;
        for (int i = 0; i < input.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(BFloat16.ToFloat(BFloat16.FromFloat(input[i]))),
                $"{input[i]:R}: torch rounds to {expected[i]:R}, Ril to {BFloat16.ToFloat(BFloat16.FromFloat(input[i])):R}");
    }

    /// <summary>A float32 copy of <paramref name="w"/>'s values rounded to bf16, and <paramref name="w"/> frozen in bf16.</summary>
    static Tensor RoundedCopyThenFreeze(Tensor w)
    {
        var rounded = Tensor.FromArray(w.ToArray(), w.Shape);
        var words = new ushort[w.Length];
        BFloat16.Encode(rounded.Data, words);
        BFloat16.Decode(words, rounded.Data);
        w.FreezeToBf16();
        return rounded;
    }

    [Fact]
    public void Frozen_bf16_tensor_halves_storage_and_refuses_float_access()
    {
        var w = Tensor.Randn(new Rng(1), 1f, 6, 10).AsParameter("w");
        Assert.Equal(240, w.StorageBytes);
        var rounded = RoundedCopyThenFreeze(w);
        Assert.True(w.IsBf16);
        Assert.False(w.RequiresGrad);
        Assert.Equal(120, w.StorageBytes);
        Assert.Equal(rounded.ToArray(), w.ToArray());
        var e = Assert.Throws<InvalidOperationException>(() => w.Data[0]);
        Assert.Contains("frozen in bf16", e.Message);
        Assert.Throws<InvalidOperationException>(() => Ops.Add(w, w));
    }

    /// <summary>Largest |a − b| relative to the largest |b|.</summary>
    static float RelativeError(Tensor a, Tensor b)
    {
        var (x, y) = (a.ToArray(), b.ToArray());
        float scale = y.Max(MathF.Abs), worst = 0;
        for (int i = 0; i < x.Length; i++) worst = MathF.Max(worst, MathF.Abs(x[i] - y[i]));
        return worst / scale;
    }

    [Theory]
    [InlineData(true, 3, 7)]    // Linear: W stored [out, in], blocks along out
    [InlineData(false, 3, 7)]   // x·W with W stored [in, out]: blocks along k
    [InlineData(true, 3, 1)]    // three rows: still widened blocks
    [InlineData(true, 1, 2)]    // two rows, as when decoding: bf16 read in place (Gemm.MultiplyBf16Transposed)
    [InlineData(true, 4, 16)]   // 64 rows, a rollout's batch: still in place
    [InlineData(true, 5, 13)]   // 65 rows: widened blocks again
    public void Bf16_weight_product_matches_float32_of_bf16(bool transposed, int items, int rowsPerItem)
    {
        var rng = new Rng(2);
        // 600 stored rows of 515 overflow one widened block (2¹⁸ floats), so more than one block is used; 515 leaves a tail.
        var w = Tensor.Randn(rng, 0.05f, 600, 515);
        var x = Tensor.Randn(rng, 1f, items, rowsPerItem, transposed ? 515 : 600);
        var rounded = RoundedCopyThenFreeze(w);
        var expected = Ops.MatMul(x, rounded, transB: transposed);
        var actual = Ops.MatMul(x, w, transB: transposed);
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.True(RelativeError(actual, expected) < 1e-5f, $"relative error {RelativeError(actual, expected)}");

        // Backward gives x the gradient the float32 weight would.
        x.RequiresGrad = true;
        var seed = Tensor.Randn(rng, 1f, expected.Shape);
        Ops.MatMul(x, rounded, transB: transposed).Backward(seed);
        var expectedGrad = x.Grad!.Detach();
        x.ZeroGrad();
        Ops.MatMul(x, w, transB: transposed).Backward(seed);
        Assert.True(RelativeError(x.Grad!, expectedGrad) < 1e-5f);
    }

    [Fact]
    public void Bf16_linear_backward_matches_finite_differences()
    {
        var rng = new Rng(3);
        var w = Tensor.Randn(rng, 0.5f, 9, 13);
        var bias = Rand(rng, 9);
        w.FreezeToBf16();
        Check("Linear(bf16 W)", t => Ops.Linear(t[0], w, t[1]), [Rand(rng, 2, 5, 13), bias]);
    }

    [Fact]
    public void Bf16_embedding_reads_widened_rows()
    {
        var table = Tensor.Randn(new Rng(4), 1f, 11, 6);
        var rounded = RoundedCopyThenFreeze(table);
        int[] ids = [3, 0, 10, 3];
        Assert.Equal(Ops.Embedding(rounded, ids).ToArray(), Ops.Embedding(table, ids).ToArray());
    }

    [Fact]
    public void Low_rank_update_backward_matches_finite_differences()
    {
        var rng = new Rng(6);
        Check("LowRank", t => Ops.LowRank(t[0], t[1], t[2], 2.5f), [Rand(rng, 2, 3, 7), Rand(rng, 4, 7), Rand(rng, 5, 4)]);
    }

    [Fact]
    public void Recomputed_block_gives_the_gradients_of_the_stored_one()
    {
        var rng = new Rng(7);
        var w1 = Tensor.Randn(rng, 0.3f, 12, 8).AsParameter("w1");
        var w2 = Tensor.Randn(rng, 0.3f, 8, 12).AsParameter("w2");
        var dropoutRng = new Rng(8);
        Tensor Block(Tensor h) => Ops.Add(h, Ops.Linear(Ops.Dropout(Ops.Silu(Ops.Linear(h, w1)), 0.3f, dropoutRng), w2));

        (float[] dx, float[] dw1, float[] dw2, float[] y) Run(bool recompute)
        {
            dropoutRng.SetState(new Rng(8).GetState());
            var x = Tensor.Randn(new Rng(9), 1f, 2, 3, 8);
            x.RequiresGrad = true;
            w1.Grad = null; w2.Grad = null;
            var y = recompute ? Ops.Recompute(h => Block(Block(h)), x, [w1, w2], dropoutRng) : Block(Block(x));
            Ops.SumAll(Ops.Mul(y, y)).Backward();
            return (x.Grad!.ToArray(), w1.Grad!.ToArray(), w2.Grad!.ToArray(), y.ToArray());
        }

        var stored = Run(recompute: false);
        var recomputed = Run(recompute: true);
        Assert.Equal(stored.y, recomputed.y);
        Assert.Equal(stored.dx, recomputed.dx);
        Assert.Equal(stored.dw1, recomputed.dw1);
        Assert.Equal(stored.dw2, recomputed.dw2);
    }
}

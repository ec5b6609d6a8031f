using Ril.Tensors.Autograd;

namespace Ril.Tensors.Tests;

/// <summary>
/// Checks an op's backward against central finite differences. The probe loss is L = Σ y ⊙ w with a fixed random w
/// (so the upstream gradient is not all ones); L is accumulated in double, and the difference quotient
/// (L(x+h) − L(x−h)) / 2h is formed in double from float32 forward passes.
/// </summary>
internal static class GradCheck
{
    public static void Check(string name, Func<Tensor[], Tensor> f, Tensor[] inputs, double h = 1e-2, double rtol = 1e-2, double atol = 2e-3, int maxProbes = 48, ulong seed = 99)
    {
        foreach (var t in inputs) t.RequiresGrad = true;
        var rng = new Rng(seed);
        Tensor y0;
        using (NoGrad.Begin()) y0 = f(inputs);
        var w = Tensor.Randn(rng, 1f, y0.Shape);

        double Loss()
        {
            using var _ = NoGrad.Begin();
            var y = f(inputs);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)y.Data[i] * w.Data[i];
            return s;
        }

        foreach (var t in inputs) t.Grad = null;
        var loss = Ops.SumAll(Ops.Mul(f(inputs), w));
        loss.Backward();

        for (int which = 0; which < inputs.Length; which++)
        {
            var x = inputs[which];
            Assert.True(x.Grad is not null, $"{name}: input {which} got no gradient");
            var analytic = x.Grad!.ToArray();
            var probes = Enumerable.Range(0, x.Length).ToArray();
            if (probes.Length > maxProbes) { rng.Shuffle(probes); probes = probes[..maxProbes]; }
            foreach (var i in probes)
            {
                float orig = x.Data[i];
                x.Data[i] = (float)(orig + h); double plus = Loss();
                x.Data[i] = (float)(orig - h); double minus = Loss();
                x.Data[i] = orig;
                double numeric = (plus - minus) / (2 * h);
                double err = Math.Abs(analytic[i] - numeric);
                Assert.True(err <= atol + rtol * Math.Max(Math.Abs(numeric), Math.Abs(analytic[i])),
                    $"{name}: d/d input{which}[{i}] (shape {ShapeOf.Format(x.Shape)}): backward {analytic[i]:G6}, finite difference {numeric:G6}");
            }
        }
    }

    public static Tensor Rand(Rng rng, params int[] shape) => Tensor.Randn(rng, 1f, shape);

    /// <summary>Values in [lo, hi), for ops with a restricted domain (log, sqrt, division).</summary>
    public static Tensor RandIn(Rng rng, float lo, float hi, params int[] shape) => Tensor.Uniform(rng, lo, hi, shape);

    /// <summary>Values spaced at least <paramref name="gap"/> apart (no ties for max/min, none within h of a kink).</summary>
    public static Tensor Distinct(Rng rng, float gap, params int[] shape)
    {
        var t = Tensor.Zeros(shape);
        var order = Enumerable.Range(0, t.Length).ToArray();
        rng.Shuffle(order);
        for (int i = 0; i < order.Length; i++) t.Data[order[i]] = (i - order.Length / 2f) * gap;
        return t;
    }

    /// <summary>A random shape of the given rank with sizes in [1, max], odd sizes likely.</summary>
    public static int[] Shape(Rng rng, int rank, int max = 7) => Enumerable.Range(0, rank).Select(_ => 1 + rng.NextInt(max)).ToArray();
}

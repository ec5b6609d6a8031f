using Ril.Tensors.Optim;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Tests;

public class OptimizerTests
{
    /// <summary>torch.optim.AdamW's update written out in double, step by step.</summary>
    static double[] AdamWReference(double[] w, double[][] grads, double lr, double wd, double b1, double b2, double eps)
    {
        var m = new double[w.Length]; var v = new double[w.Length]; w = (double[])w.Clone();
        for (int t = 1; t <= grads.Length; t++)
            for (int i = 0; i < w.Length; i++)
            {
                double g = grads[t - 1][i];
                w[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double mhat = m[i] / (1 - Math.Pow(b1, t)), vhat = v[i] / (1 - Math.Pow(b2, t));
                w[i] -= lr * mhat / (Math.Sqrt(vhat) + eps);
            }
        return w;
    }

    [Fact]
    public void AdamW_matches_the_reference_update()
    {
        double[] w0 = [0.5, -1.25, 2.0];
        double[][] grads = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.0, 0.2]];
        var p = Tensor.FromArray(w0.Select(x => (float)x).ToArray(), 3).AsParameter("p");
        var opt = new AdamW([p], lr: 1e-2f, weightDecay: 0.1f, beta1: 0.9f, beta2: 0.95f, eps: 1e-5f);
        foreach (var g in grads)
        {
            p.GradData();
            g.Select(x => (float)x).ToArray().CopyTo(p.Grad!.Data);
            opt.Step();
        }
        var expected = AdamWReference(w0, grads, 1e-2, 0.1, 0.9, 0.95, 1e-5);
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], p.Data[i], 1e-6);
    }

    /// <summary>The update as it was written before it became one pass: one TensorPrimitives pass per operation.</summary>
    static void PassPerOperation(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float lr, float wd, float bc1, float bc2, float b1, float b2, float eps)
    {
        if (wd != 0) TP.Multiply(w, 1f - lr * wd, w);
        float stepSize = lr / bc1, rbc2 = 1f / MathF.Sqrt(bc2);
        var t = new float[w.Length];
        TP.Multiply(m, b1, m); TP.MultiplyAdd(g, 1f - b1, m, m);
        TP.Multiply(g, g, t); TP.Multiply(v, b2, v); TP.MultiplyAdd(t, 1f - b2, v, v);
        TP.Sqrt(v, t); TP.Multiply(t, rbc2, t); TP.Add(t, eps, t);
        TP.Divide(m, t, t);
        TP.MultiplyAdd(t, -stepSize, w, w);
    }

    [Fact]
    public void AdamW_in_one_pass_matches_the_reference_and_the_pass_per_operation_form_to_the_bit()
    {
        const int n = 1003;   // eight-lane blocks and a scalar tail
        var rng = new Rng(7);
        var w0 = Tensor.Randn(rng, 1f, n).ToArray();
        var grads = Enumerable.Range(0, 3).Select(_ => Tensor.Randn(rng, 0.3f, n).ToArray()).ToArray();
        var p = Tensor.FromArray((float[])w0.Clone(), n).AsParameter("p");
        var opt = new AdamW([p], lr: 1e-2f, weightDecay: 0.1f, beta1: 0.9f, beta2: 0.95f, eps: 1e-5f);
        var (w, m, v) = ((float[])w0.Clone(), new float[n], new float[n]);
        for (int t = 1; t <= grads.Length; t++)
        {
            p.GradData();
            grads[t - 1].CopyTo(p.Grad!.Data);
            opt.Step();
            PassPerOperation(w, grads[t - 1], m, v, 1e-2f, 0.1f, 1f - MathF.Pow(0.9f, t), 1f - MathF.Pow(0.95f, t), 0.9f, 0.95f, 1e-5f);
        }
        Assert.Equal(w, p.ToArray());
        var expected = AdamWReference(w0.Select(x => (double)x).ToArray(), grads.Select(g => g.Select(x => (double)x).ToArray()).ToArray(), 1e-2, 0.1, 0.9, 0.95, 1e-5);
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], p.Data[i], 1e-5);
    }

    [Fact]
    public void Optimizer_state_save_and_load_resume_identically()
    {
        Tensor Param() => Tensor.FromArray([1f, 2f, 3f, 4f], 2, 2).AsParameter("layer.weight");
        void Grad(Tensor p, float s) { p.GradData(); for (int i = 0; i < 4; i++) p.Grad!.Data[i] = s * (i + 1); }
        var a = Param(); var optA = new AdamW([a], 1e-2f);
        for (int i = 0; i < 3; i++) { Grad(a, 0.1f * (i + 1)); optA.Step(); }

        var b = Param(); var optB = new AdamW([b], 1e-2f);
        for (int i = 0; i < 2; i++) { Grad(b, 0.1f * (i + 1)); optB.Step(); }
        var path = Path.Combine(Path.GetTempPath(), $"ril-opt-{Guid.NewGuid():N}.safetensors");
        try
        {
            optB.Save(path);
            var c = b.Detach().AsParameter("layer.weight");
            var optC = new AdamW([c], 1e-2f);
            optC.Load(path);
            Assert.Equal(2, optC.StepCount);
            Grad(c, 0.3f); optC.Step();
            Assert.Equal(a.ToArray(), c.ToArray());
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// A resumed process has no gradient buffers until a backward reaches them; a step in which none did must move the
    /// weights exactly as the uninterrupted process does with its zeroed buffers (momentum alone), or resume is not exact.
    /// </summary>
    [Fact]
    public void A_step_without_a_gradient_buffer_after_loading_moves_like_a_zero_gradient()
    {
        Tensor Param() => Tensor.FromArray([1f, -2f, 3f], 3).AsParameter("w");
        var a = Param(); var optA = new AdamW([a], 1e-2f);
        a.GradData(); new float[] { 0.3f, -0.1f, 0.2f }.CopyTo(a.Grad!.Data); optA.Step();
        var path = Path.Combine(Path.GetTempPath(), $"ril-opt-{Guid.NewGuid():N}.safetensors");
        try
        {
            optA.Save(path);
            var b = a.Detach().AsParameter("w");
            var optB = new AdamW([b], 1e-2f);
            optB.Load(path);
            a.ZeroGrad(); optA.Step();                 // the uninterrupted process: a zeroed buffer
            Assert.Null(b.Grad); optB.Step();          // the resumed one: no buffer at all
            Assert.NotEqual(new[] { 1f, -2f, 3f }, a.ToArray());   // momentum moved it
            Assert.Equal(a.ToArray(), b.ToArray());
        }
        finally { File.Delete(path); }
        var fresh = Param(); new AdamW([fresh], 1e-2f).Step();
        Assert.Equal(new[] { 1f, -2f, 3f }, fresh.ToArray());   // never given a gradient: untouched
    }

    [Fact]
    public void Sgd_with_momentum_matches_torch_semantics()
    {
        var p = Tensor.FromArray([1f], 1).AsParameter("p");
        var opt = new Sgd([p], lr: 0.1f, momentum: 0.9f);
        p.GradData()[0] = 1f; opt.Step();     // b = 1        → p = 0.9
        p.Grad!.Data[0] = 1f; opt.Step();     // b = 0.9 + 1  → p = 0.9 − 0.19
        Assert.Equal(0.71f, p.Data[0], 5);
    }

    [Fact]
    public void Clip_by_global_norm()
    {
        var a = Tensor.FromArray([3f], 1).AsParameter("a"); a.GradData()[0] = 3f;
        var b = Tensor.FromArray([4f], 1).AsParameter("b"); b.GradData()[0] = 4f;
        float norm = GradClip.ClipByGlobalNorm([a, b], 1f);
        Assert.Equal(5f, norm, 5);
        Assert.Equal(0.6f, a.Grad!.Data[0], 4);
        Assert.Equal(0.8f, b.Grad!.Data[0], 4);
        Assert.Equal(1f, GradClip.ClipByGlobalNorm([a, b], 0f), 4);   // measure only
    }

    [Fact]
    public void Schedules()
    {
        Assert.Equal(1e-6f, new ConstantLr(1e-6f).At(1000));
        var lin = new LinearDecayLr(1e-5f, 1e-6f, 10);
        Assert.Equal(1e-5f, lin.At(0));
        Assert.Equal(5.5e-6f, lin.At(5), 9);
        Assert.Equal(1e-6f, lin.At(50));
        var cos = new WarmupCosineLr(1f, WarmupSteps: 10, TotalSteps: 110);
        Assert.Equal(0.1f, cos.At(0), 5);
        Assert.Equal(1f, cos.At(9), 5);
        Assert.Equal(1f, cos.At(10), 5);
        Assert.Equal(0.5f, cos.At(60), 5);
        Assert.Equal(0f, cos.At(110), 5);
    }

    [Fact]
    public void Parameter_groups_apply_their_own_decay_and_scale()
    {
        var decayed = Tensor.FromArray([1f], 1).AsParameter("w");
        var plain = Tensor.FromArray([1f], 1).AsParameter("norm");
        var opt = new Sgd([new ParameterGroup([decayed], weightDecay: 0.5f), new ParameterGroup([plain], lrScale: 2f)], lr: 0.1f);
        decayed.GradData()[0] = 0f; plain.GradData()[0] = 1f;
        opt.Step();
        Assert.Equal(0.95f, decayed.Data[0], 6);
        Assert.Equal(0.8f, plain.Data[0], 6);
    }
}

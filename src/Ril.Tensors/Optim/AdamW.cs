using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ril.Tensors.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter): decoupled weight decay, bias-corrected moments, as torch.optim.AdamW:
/// θ ← θ − lr·wd·θ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
/// </summary>
public sealed class AdamW : Optimizer
{
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    readonly Dictionary<Tensor, (float[] m, float[] v)> _state = new(ReferenceEqualityComparer.Instance);

    public AdamW(IReadOnlyList<ParameterGroup> groups, float lr, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f)
        : base(groups, lr) => (Beta1, Beta2, Eps) = (beta1, beta2, eps);

    public AdamW(IReadOnlyList<Tensor> parameters, float lr, float weightDecay = 0.01f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f)
        : this([new ParameterGroup(parameters, weightDecay)], lr, beta1, beta2, eps) { }

    public override void Step()
    {
        StepCount++;
        float bc1 = 1f - MathF.Pow(Beta1, StepCount), bc2 = 1f - MathF.Pow(Beta2, StepCount);
        foreach (var group in Groups)
        {
            float lr = LearningRate * group.LrScale;
            foreach (var p in group.Parameters)
            {
                // A parameter that has moments but got no gradient this step (no backward reached it in this process, as after
                // a resume) moves as with a zero gradient, exactly as it would in a process whose gradient buffer was zeroed.
                if (p.Grad is null && !_state.ContainsKey(p)) continue;
                if (!_state.TryGetValue(p, out var s)) _state[p] = s = (new float[p.Length], new float[p.Length]);
                var (w, g) = (p, p.Grad ?? Tensor.Zeros(p.Shape));
                float wd = group.WeightDecay;
                // Elementwise, so chunks can go to different threads without changing any result.
                Kernels.Chunks.For(p.Length, (start, n) => Update(w.Data.Slice(start, n), g.Data.Slice(start, n),
                    s.m.AsSpan(start, n), s.v.AsSpan(start, n), lr, wd, bc1, bc2));
            }
        }
    }

    void Update(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float lr, float wd, float bc1, float bc2) =>
        Update(w, g, m, v, wd != 0 ? 1f - lr * wd : 1f, Beta1, Beta2, lr / bc1, 1f / MathF.Sqrt(bc2), Eps);

    /// <summary>
    /// One chunk of the update in one pass over memory: per element θ ← θ·decay; m ← m·β₁ + g·(1−β₁); v ← v·β₂ + g²·(1−β₂);
    /// θ ← m / (√v·rbc2 + ε)·(−stepSize) + θ, with stepSize = lr/(1−β₁ᵗ) and rbc2 = 1/√(1−β₂ᵗ) (the class comment's
    /// formula). Every product and sum is rounded on its own (no fused multiply-add) in this order, so eight lanes and the
    /// scalar tail give the same bits, and so did the pass-per-operation form this replaced (OptimizerTests).
    /// </summary>
    internal static void Update(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float decay, float beta1, float beta2, float stepSize, float rbc2, float eps)
    {
        float c1 = 1f - beta1, c2 = 1f - beta2, minusStep = -stepSize;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float pw = ref MemoryMarshal.GetReference(w), pm = ref MemoryMarshal.GetReference(m), pv = ref MemoryMarshal.GetReference(v);
            ref float pg = ref MemoryMarshal.GetReference(g);
            for (; i + 8 <= w.Length; i += 8)
            {
                var (gi, at) = (Vector256.LoadUnsafe(ref pg, (nuint)i), (nuint)i);
                var wi = Vector256.LoadUnsafe(ref pw, at) * decay;
                var mi = gi * c1 + Vector256.LoadUnsafe(ref pm, at) * beta1;
                var vi = gi * gi * c2 + Vector256.LoadUnsafe(ref pv, at) * beta2;
                var step = mi / (Vector256.Sqrt(vi) * rbc2 + Vector256.Create(eps));
                (step * minusStep + wi).StoreUnsafe(ref pw, at);
                mi.StoreUnsafe(ref pm, at);
                vi.StoreUnsafe(ref pv, at);
            }
        }
        for (; i < w.Length; i++)
        {
            float wi = w[i] * decay, gi = g[i];
            m[i] = gi * c1 + m[i] * beta1;
            v[i] = gi * gi * c2 + v[i] * beta2;
            w[i] = m[i] / (MathF.Sqrt(v[i]) * rbc2 + eps) * minusStep + wi;
        }
    }

    protected override IEnumerable<(string, float[], int[])> StateTensors()
    {
        foreach (var p in AllParameters)
            if (_state.TryGetValue(p, out var s))
            {
                yield return (p.Name + ".exp_avg", s.m, p.Shape);
                yield return (p.Name + ".exp_avg_sq", s.v, p.Shape);
            }
    }

    protected override void LoadStateTensor(string name, ReadOnlySpan<float> data)
    {
        bool isM = name.EndsWith(".exp_avg");
        string pname = name[..name.LastIndexOf('.')];
        var p = AllParameters.FirstOrDefault(t => t.Name == pname) ?? throw new InvalidDataException($"optimizer state '{name}' names no parameter of this model");
        if (data.Length != p.Length) throw new InvalidDataException($"optimizer state '{name}' has {data.Length} values, parameter {ShapeOf.Format(p.Shape)} has {p.Length}");
        if (!_state.TryGetValue(p, out var s)) _state[p] = s = (new float[p.Length], new float[p.Length]);
        data.CopyTo(isM ? s.m : s.v);
    }
}

using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter): decoupled weight decay, bias-corrected moments, as torch.optim.AdamW:
/// θ ← θ − lr·wd·θ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]   // the update's stack scratch is written before it is read: no zeroing per chunk
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

    void Update(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float lr, float wd, float bc1, float bc2)
    {
        if (wd != 0) TP.Multiply(w, 1f - lr * wd, w);
        float stepSize = lr / bc1, rbc2 = 1f / MathF.Sqrt(bc2);
        Span<float> t = stackalloc float[1024];
        for (int s = 0; s < w.Length; s += t.Length)
        {
            int n = Math.Min(t.Length, w.Length - s);
            var ts = t[..n]; var gs = g.Slice(s, n); var ms = m.Slice(s, n); var vs = v.Slice(s, n);
            TP.Multiply(ms, Beta1, ms); TP.MultiplyAdd(gs, 1f - Beta1, ms, ms);               // m ← β₁m + (1−β₁)g
            TP.Multiply(gs, gs, ts); TP.Multiply(vs, Beta2, vs); TP.MultiplyAdd(ts, 1f - Beta2, vs, vs); // v ← β₂v + (1−β₂)g²
            TP.Sqrt(vs, ts); TP.Multiply(ts, rbc2, ts); TP.Add(ts, Eps, ts);                  // √v̂ + ε
            TP.Divide(ms, ts, ts);
            var ws = w.Slice(s, n);
            TP.MultiplyAdd(ts, -stepSize, ws, ws);                                            // θ −= lr·m̂/(√v̂+ε)
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

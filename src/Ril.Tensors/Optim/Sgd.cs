using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Optim;

/// <summary>SGD with optional momentum (torch.optim.SGD: b ← μb + g; θ ← θ − lr·b) and decoupled weight decay.</summary>
public sealed class Sgd(IReadOnlyList<ParameterGroup> groups, float lr, float momentum = 0f) : Optimizer(groups, lr)
{
    readonly Dictionary<Tensor, float[]> _momentum = new(ReferenceEqualityComparer.Instance);
    public float Momentum { get; } = momentum;

    public Sgd(IReadOnlyList<Tensor> parameters, float lr, float momentum = 0f) : this([new ParameterGroup(parameters)], lr, momentum) { }

    public override void Step()
    {
        StepCount++;
        foreach (var group in Groups)
        {
            float lr = LearningRate * group.LrScale;
            foreach (var p in group.Parameters)
            {
                if (p.Grad is null) continue;
                var w = p.Data;
                if (group.WeightDecay != 0) TP.Multiply(w, 1f - lr * group.WeightDecay, w);
                ReadOnlySpan<float> direction = p.Grad.Data;
                if (Momentum != 0)
                {
                    if (!_momentum.TryGetValue(p, out var b)) { _momentum[p] = b = new float[p.Length]; p.Grad.Data.CopyTo(b); }
                    else { TP.Multiply(b, Momentum, b); TP.Add(b, p.Grad.Data, b); }
                    direction = b;
                }
                TP.MultiplyAdd(direction, -lr, w, w);
            }
        }
    }

    protected override IEnumerable<(string, float[], int[])> StateTensors() =>
        AllParameters.Where(_momentum.ContainsKey).Select(p => (p.Name + ".momentum_buffer", _momentum[p], p.Shape));

    protected override void LoadStateTensor(string name, ReadOnlySpan<float> data)
    {
        string pname = name[..name.LastIndexOf('.')];
        var p = AllParameters.FirstOrDefault(t => t.Name == pname) ?? throw new InvalidDataException($"optimizer state '{name}' names no parameter of this model");
        _momentum[p] = data.ToArray();
    }
}

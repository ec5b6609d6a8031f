namespace Ril.Tensors.Optim;

/// <summary>Parameters that share optimizer settings (e.g. no weight decay on norms and biases).</summary>
public sealed class ParameterGroup(IReadOnlyList<Tensor> parameters, float weightDecay = 0f, float lrScale = 1f)
{
    public IReadOnlyList<Tensor> Parameters { get; } = parameters;
    public float WeightDecay { get; set; } = weightDecay;
    /// <summary>Multiplies the scheduled learning rate for this group.</summary>
    public float LrScale { get; set; } = lrScale;
}

namespace Ril.Tensors.Autograd;

/// <summary>While a NoGrad scope is open on this thread, ops record no history (rollouts, evaluation, reference log-probs).</summary>
public readonly struct NoGrad : IDisposable
{
    [ThreadStatic] static int _depth;
    public static bool IsActive => _depth > 0;
    public static NoGrad Begin() { _depth++; return default; }
    public void Dispose() => _depth--;
}

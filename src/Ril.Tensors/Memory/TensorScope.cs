namespace Ril.Tensors.Memory;

/// <summary>
/// Owns the tensors created while it is the innermost scope on this thread, and returns their buffers to the
/// pool when disposed. Wrap a training step in one; call <see cref="Escape"/> on a result that must outlive it.
/// Tensors created outside any scope (parameters, say) are ordinary GC objects.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] static TensorScope? _current;
    [ThreadStatic] static int _suspended;

    readonly TensorScope? _parent;
    readonly List<Tensor> _owned = new();
    bool _disposed;

    TensorScope(TensorScope? parent) => _parent = parent;

    public static TensorScope Begin() => _current = new TensorScope(_current);

    public int Count => _owned.Count;

    internal static void Register(Tensor t)
    {
        if (_suspended == 0) _current?._owned.Add(t);
    }

    /// <summary>Hands <paramref name="t"/> (and, for a view, the tensor it views) to the enclosing scope, or to the GC at top level.</summary>
    public static Tensor Escape(Tensor t)
    {
        var owner = t.Base ?? t;
        var scope = _current ?? throw new InvalidOperationException("TensorScope.Escape outside any scope");
        if (scope._owned.Remove(owner)) scope._parent?._owned.Add(owner);
        return t;
    }

    /// <summary>
    /// Runs one layer of a forward in a scope of its own. When no backward will read its intermediates (no gradient reached
    /// its result: under NoGrad, or a frozen part such as a vision tower in LoRA training) they are released as soon as it
    /// returns and only its result is kept, so the forward holds one such layer's activations, not every layer's. Otherwise
    /// they pass to the enclosing scope, as if it had run there.
    /// </summary>
    public static Tensor Layer(Func<Tensor> layer)
    {
        if (_current is null || _suspended > 0) return layer();
        var scope = Begin();
        Tensor result;
        try { result = layer(); }
        catch { scope.Dispose(); throw; }
        if (!result.RequiresGrad) { Escape(result); scope.Dispose(); return result; }
        scope._parent?._owned.AddRange(scope._owned);
        scope._owned.Clear();
        scope.Dispose();
        return result;
    }

    /// <summary>While the returned handle lives, new tensors are not owned by any scope.</summary>
    public static SuspendHandle Suspend()
    {
        _suspended++;
        return default;
    }

    public readonly struct SuspendHandle : IDisposable
    {
        public void Dispose() => _suspended--;
    }

    public void Dispose()
    {
        if (_disposed) return;
        if (_current != this) throw new InvalidOperationException("TensorScope disposed out of order: dispose inner scopes first");
        _disposed = true;
        foreach (var t in _owned)
        {
            t.Node = null;   // the graph dies with the scope
            t.ReleaseGrad();
            t.Release();
        }
        _owned.Clear();
        _current = _parent;
    }
}

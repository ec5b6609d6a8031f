namespace Ril.Tensors.Autograd;

/// <summary>One recorded op: its inputs and the function that, given the output's gradient, accumulates the inputs' gradients.</summary>
internal sealed class Node(string op, Tensor[] inputs, Action<Tensor> backward)
{
    public readonly string Op = op;
    public readonly Tensor[] Inputs = inputs;
    /// <summary>Called with the op's output; reads output.Grad and accumulates into inputs' GradData().</summary>
    public readonly Action<Tensor> Backward = backward;
}

/// <summary>Hears one backward: <paramref name="Started"/> with "is this leaf in the graph", then each leaf whose gradient is final.</summary>
internal sealed record BackwardListener(Action<Func<Tensor, bool>> Started, Action<Tensor> LeafFinal);

/// <summary>Define-by-run reverse mode: ops attach a <see cref="Node"/> to their output; Backward walks them in reverse topological order.</summary>
internal static class Tape
{
    /// <summary>True when an op over these inputs must record history.</summary>
    public static bool Needs(Tensor a) => a.RequiresGrad && !NoGrad.IsActive;
    public static bool Needs(Tensor a, Tensor b) => (a.RequiresGrad || b.RequiresGrad) && !NoGrad.IsActive;
    public static bool Needs(Tensor[] inputs) => !NoGrad.IsActive && inputs.Any(t => t.RequiresGrad);

    /// <summary>Marks <paramref name="output"/> as produced by an op, if any input needs grad.</summary>
    public static Tensor Record(Tensor output, string op, Tensor[] inputs, Action<Tensor> backward)
    {
        if (!Needs(inputs)) return output;
        output.RequiresGrad = true;
        output.Node = new Node(op, inputs, backward);
        return output;
    }

    public static void Backward(Tensor root, Tensor? seed)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException($"Backward: tensor {ShapeOf.Format(root.Shape)} does not require grad (no parameter led to it, or it was computed under NoGrad)");
        if (seed is null && root.Length != 1)
            throw new ArgumentException($"Backward: a non-scalar root of shape {ShapeOf.Format(root.Shape)} needs a seed gradient");
        if (seed is not null) ShapeOf.RequireEqual("Backward(seed)", root, seed);

        var order = TopologicalOrder(root);
        var g = root.GradData();
        if (seed is null) g[0] += 1f; else TensorPrimitivesAdd(g, seed.Data);
        var listener = _listener;
        _listener = null;                                       // one backward only, and never a nested one
        var pending = listener is null ? null : PendingUsesOfLeaves(order);
        if (pending is not null) listener!.Started(pending.ContainsKey);

        for (int i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            if (t.Node is null) continue;
            var inputs = t.Node.Inputs;
            if (t.Grad is not null) t.Node.Backward(t);
            // The graph is used once: drop it and the intermediate gradient.
            t.Node = null;
            t.ReleaseGrad();
            if (pending is null) continue;
            foreach (var x in inputs)
                if (pending.TryGetValue(x, out int uses))
                {
                    if (uses > 1) { pending[x] = uses - 1; continue; }
                    pending.Remove(x);
                    listener!.LeafFinal(x);                     // no node left can add to its gradient
                }
        }
    }

    [ThreadStatic] static BackwardListener? _listener;

    /// <summary>
    /// The next <see cref="Backward"/> on this thread tells <paramref name="listener"/> which leaves the graph holds, then
    /// each leaf that needs a gradient (a parameter) as soon as every op that used it has passed its gradient back, so
    /// that work on finished gradients (a data-parallel sum) can start while backward goes on. Null disarms. A graph with
    /// recomputed blocks accumulates into parameters from inside a nested backward, so there the listener hears nothing.
    /// </summary>
    internal static void OnNextBackward(BackwardListener? listener) => _listener = listener;

    /// <summary>How many inputs of ops in the graph are each leaf that needs a gradient; null when a Recompute op is in it.</summary>
    static Dictionary<Tensor, int>? PendingUsesOfLeaves(List<Tensor> order)
    {
        var uses = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        foreach (var t in order)
        {
            if (t.Node is null) continue;
            if (t.Node.Op == "Recompute") return null;
            foreach (var x in t.Node.Inputs)
                if (x.Node is null && x.RequiresGrad) uses[x] = uses.GetValueOrDefault(x) + 1;
        }
        return uses;
    }

    static void TensorPrimitivesAdd(Span<float> dst, ReadOnlySpan<float> src) =>
        System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);

    /// <summary>Inputs before outputs, iteratively (graphs are deep: hundreds of ops per layer).</summary>
    static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor t, int next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (t, next) = stack.Pop();
            var inputs = t.Node?.Inputs;
            if (inputs is not null && next < inputs.Length)
            {
                stack.Push((t, next + 1));
                var child = inputs[next];
                if (child.RequiresGrad && visited.Add(child)) stack.Push((child, 0));
            }
            else order.Add(t);
        }
        return order;
    }
}

namespace Ril.Tensors.Autograd;

/// <summary>One recorded op: its inputs and the function that, given the output's gradient, accumulates the inputs' gradients.</summary>
internal sealed class Node(string op, Tensor[] inputs, Action<Tensor> backward)
{
    public readonly string Op = op;
    public readonly Tensor[] Inputs = inputs;
    /// <summary>Called with the op's output; reads output.Grad and accumulates into inputs' GradData().</summary>
    public readonly Action<Tensor> Backward = backward;
}

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

        for (int i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            if (t.Node is null) continue;
            if (t.Grad is not null) t.Node.Backward(t);
            // The graph is used once: drop it and the intermediate gradient.
            t.Node = null;
            t.ReleaseGrad();
        }
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

using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Activation recomputation ("gradient checkpointing", Chen et al. 2016): y = <paramref name="block"/>(x) is computed
    /// without keeping the block's intermediate tensors; backward runs the block again, with history, and backpropagates
    /// through that copy. Memory for a stack of blocks drops from all their activations to one block's, for one more
    /// forward. <paramref name="parameters"/> are the block's tensors (the result needs a gradient if x or any of them
    /// does); <paramref name="rng"/>, if the block draws random numbers (dropout), is rewound so the rerun draws the same.
    /// </summary>
    public static Tensor Recompute(Func<Tensor, Tensor> block, Tensor x, IEnumerable<Tensor> parameters, Rng? rng = null)
    {
        // Nothing to recompute when no gradient will flow: run the block as a layer whose intermediates go as soon as it returns.
        if (NoGrad.IsActive || !(x.RequiresGrad || parameters.Any(p => p.RequiresGrad))) return TensorScope.Layer(() => block(x));
        var rngState = rng?.GetState();
        Tensor y;
        // Run as a training forward (ops that act only while recording, such as LoRA's dropout, act the same as in the
        // rerun), then drop the block's graph and intermediates with its scope; only y is kept.
        using (TensorScope.Begin())
            y = TensorScope.Escape(block(x));
        y.RequiresGrad = true;
        y.Node = new Node("Recompute", [x], o =>
        {
            var rngAfter = rng?.GetState();
            if (rngState is not null) rng!.SetState(rngState);
            using (TensorScope.Begin())
            {
                var input = x.Detach();
                input.RequiresGrad = x.RequiresGrad;
                var rerun = block(input);
                if (rerun.RequiresGrad) rerun.Backward(o.Grad);
                if (x.RequiresGrad && input.Grad is not null) { var dx = x.GradData(); TP.Add(dx, input.Grad.Data, dx); }
                input.ReleaseGrad();
            }
            if (rngAfter is not null) rng!.SetState(rngAfter);
        });
        return y;
    }
}

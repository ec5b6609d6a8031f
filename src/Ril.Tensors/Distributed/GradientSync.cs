namespace Ril.Tensors.Distributed;

/// <summary>
/// Data-parallel gradient synchronisation after backward: every process has run backward on its share of a batch, the
/// gradients are summed over processes in buckets of about <see cref="BucketFloats"/> (<see cref="GradientBuckets"/>;
/// one MPI call per bucket instead of one per parameter), and one identical optimizer step follows everywhere. A single
/// process returns at once. A training loop that can say which backward is its last uses <see cref="GradientBuckets"/>
/// itself, so that buckets are summed while that backward runs.
/// </summary>
public static class GradientSync
{
    /// <summary>Floats per bucket: 4 MiB, PyTorch DDP's first-bucket size, and large enough that latency is amortised on TCP.</summary>
    public const int BucketFloats = 1 << 20;

    /// <summary>
    /// Replaces each parameter's gradient by its sum over all processes. A parameter that got a gradient on some process
    /// but not on this one (its rows touched no input of it) takes part with zeros; one with a gradient nowhere keeps none,
    /// so the optimizer skips it exactly as a single process would. Use when every process's loss is already divided by
    /// the global batch's normaliser (as <c>PolicyUpdater</c>'s are).
    /// </summary>
    public static void AllReduceSum(IEnumerable<Tensor> parameters, ICommunicator? comm = null, int bucketFloats = BucketFloats)
    {
        comm ??= World.Current;
        if (comm.Size == 1) return;
        using var buckets = new GradientBuckets(parameters, comm, bucketFloats);
        buckets.Finish();
    }

    /// <summary>
    /// Replaces each gradient by its mean over processes: for losses that each process normalises by its own share
    /// (an equal share per process), such as a mean over a local batch.
    /// </summary>
    public static void AllReduceMean(IEnumerable<Tensor> parameters, ICommunicator? comm = null, int bucketFloats = BucketFloats)
    {
        comm ??= World.Current;
        if (comm.Size == 1) return;
        var list = parameters.Distinct().ToList();
        AllReduceSum(list, comm, bucketFloats);
        float scale = 1f / comm.Size;
        foreach (var p in list)
            if (p.Grad is { } g) System.Numerics.Tensors.TensorPrimitives.Multiply(g.Data, scale, g.Data);
    }

    /// <summary>Copies rank <paramref name="root"/>'s parameter values to every process (at the start of a run: one starting point everywhere).</summary>
    public static void BroadcastParameters(IEnumerable<Tensor> parameters, ICommunicator? comm = null, int root = 0)
    {
        comm ??= World.Current;
        if (comm.Size == 1) return;
        foreach (var p in parameters.Distinct()) comm.Broadcast(p.Data, root);
    }
}

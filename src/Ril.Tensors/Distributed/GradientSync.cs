namespace Ril.Tensors.Distributed;

/// <summary>
/// Data-parallel gradient synchronisation: after every process has run backward on its share of a batch, the gradients
/// are summed over processes in buckets, so that one identical optimizer step follows everywhere. Small gradients are
/// packed into buckets of <see cref="BucketFloats"/> (one MPI call each instead of one per parameter); a gradient at
/// least that large is reduced in place. A single process returns at once.
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
        var list = parameters.Distinct().ToList();
        var present = new float[list.Count];
        for (int i = 0; i < list.Count; i++) present[i] = list[i].Grad is null ? 0 : 1;
        comm.AllReduceSum(present);
        var bucket = new float[Math.Min(bucketFloats, list.Where((_, i) => present[i] > 0).Sum(p => p.Length))];
        var packed = new List<Tensor>();
        int used = 0;
        void Flush()
        {
            if (packed.Count == 0) return;
            comm.AllReduceSum(bucket.AsSpan(0, used));
            int at = 0;
            foreach (var p in packed) { bucket.AsSpan(at, p.Length).CopyTo(p.Grad!.Data); at += p.Length; }
            packed.Clear();
            used = 0;
        }
        for (int i = 0; i < list.Count; i++)
        {
            if (present[i] == 0) continue;
            var grad = list[i].GradData();                     // zeros here when only other processes had a gradient
            if (grad.Length >= bucketFloats) { comm.AllReduceSum(grad); continue; }
            if (used + grad.Length > bucket.Length) Flush();
            grad.CopyTo(bucket.AsSpan(used));
            packed.Add(list[i]);
            used += grad.Length;
        }
        Flush();
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

namespace Ril.Tensors;

/// <summary>
/// The decoding state of linear-attention layers (Qwen3.5's Gated DeltaNet, docs/spec/QWEN3_5.md "The hybrid cache"), per layer and
/// row: the last K−1 pre-convolution inputs of the causal conv, [B, C, K−1], and the recurrent state, [B, Hv, dk, dv].
/// It rides on a <see cref="KvCache"/> (<see cref="KvCache.Recurrent"/>), so the generator's Repeat and Keep act on both:
/// unlike keys and values, a state cannot be cut back to a prefix, so forking a prompt for its samples copies it.
/// The tensors belong to no scope; <see cref="Dispose"/> hands their buffers back.
/// </summary>
public sealed class RecurrentCache : IDisposable
{
    public int Batch { get; private set; }
    public int Channels { get; }
    public int Kernel { get; }
    public int ValueHeads { get; }
    public int KeyDim { get; }
    public int ValueDim { get; }
    /// <summary>Per layer: the conv inputs [B, C, K−1] (oldest first) and the state [B, Hv, dk, dv], views of the first B rows.</summary>
    public Tensor[] Conv { get; }
    public Tensor[] State { get; }
    /// <summary>The storage, sized for the batch the cache was made for; <see cref="Keep"/> narrows the views over it.</summary>
    readonly Tensor[] _storage;

    public RecurrentCache(int layers, int batch, int channels, int kernel, int valueHeads, int keyDim, int valueDim)
    {
        (Batch, Channels, Kernel, ValueHeads, KeyDim, ValueDim) = (batch, channels, kernel, valueHeads, keyDim, valueDim);
        using var _ = Memory.TensorScope.Suspend();
        Conv = Enumerable.Range(0, layers).Select(_ => Tensor.Zeros(batch, channels, kernel - 1)).ToArray();
        State = Enumerable.Range(0, layers).Select(_ => Tensor.Zeros(batch, valueHeads, keyDim, valueDim)).ToArray();
        _storage = [.. Conv, .. State];
    }

    public void Dispose()
    {
        foreach (var t in _storage) t.Release();
    }

    /// <summary>Keeps rows <paramref name="rows"/> (ascending) in that order, as <see cref="KvCache.Keep"/> does.</summary>
    public void Keep(ReadOnlySpan<int> rows)
    {
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] < i || rows[i] >= Batch || i > 0 && rows[i] <= rows[i - 1]) throw new ArgumentException($"RecurrentCache.Keep: rows must ascend within the batch of {Batch}");
            if (rows[i] != i)
                foreach (var t in Conv.Concat(State)) CopyRow(t, rows[i], t, i);
        }
        Batch = rows.Length;
        static Tensor Narrow(Tensor t, int rows) => new(t.Buffer, 0, [rows, .. t.Shape[1..]], t.Base ?? t);
        for (int l = 0; l < Conv.Length; l++) (Conv[l], State[l]) = (Narrow(Conv[l], Batch), Narrow(State[l], Batch));
    }

    /// <summary>A new cache in which row b appears counts[b] times, consecutively: each sample gets its own copy of the state.</summary>
    public RecurrentCache Repeat(IReadOnlyList<int> counts)
    {
        if (counts.Count != Batch) throw new ArgumentException($"RecurrentCache.Repeat: {counts.Count} counts for a batch of {Batch}");
        var fork = new RecurrentCache(Conv.Length, counts.Sum(), Channels, Kernel, ValueHeads, KeyDim, ValueDim);
        for (int l = 0; l < Conv.Length; l++)
            for (int b = 0, dst = 0; b < Batch; b++)
                for (int c = 0; c < counts[b]; c++, dst++)
                {
                    CopyRow(Conv[l], b, fork.Conv[l], dst);
                    CopyRow(State[l], b, fork.State[l], dst);
                }
        return fork;
    }

    static void CopyRow(Tensor from, int row, Tensor to, int dst)
    {
        int n = from.Length / from.Shape[0];
        from.Data.Slice(row * n, n).CopyTo(to.Data.Slice(dst * n, n));
    }
}

using Ril.Tensors.Kernels;

namespace Ril.Tensors;

/// <summary>
/// Keys and values of past tokens for decoding, per layer, in the projection layout [B, capacity, Hkv, D].
/// A decode step appends the new tokens' k/v in every layer (<see cref="Attend"/>) and then calls <see cref="Advance"/>.
/// Inference only: no gradient flows through the cache. The storage comes from the tensor buffer pool and goes back to
/// it on <see cref="Dispose"/>, so a generator that runs batch after batch reuses the same arrays; rows whose sequences
/// have finished are dropped in place by <see cref="Keep"/>.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly float[][] _keys, _values;
    public int Batch { get; private set; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int Capacity { get; }
    /// <summary>Tokens stored so far (the same for every row; padding is expressed through the key mask).</summary>
    public int Length { get; private set; }
    /// <summary>The state of a hybrid model's linear-attention layers, kept, dropped and forked with the keys and values.</summary>
    public RecurrentCache? Recurrent { get; init; }

    public KvCache(int layers, int batch, int kvHeads, int headDim, int capacity)
    {
        (Batch, KvHeads, HeadDim, Capacity) = (batch, kvHeads, headDim, capacity);
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            // Only the Length tokens written so far are ever read, so the arrays need no clearing.
            _keys[l] = Memory.BufferPool.Rent(batch * capacity * kvHeads * headDim, clear: false);
            _values[l] = Memory.BufferPool.Rent(batch * capacity * kvHeads * headDim, clear: false);
        }
    }

    /// <summary>Hands the storage back to the buffer pool; the cache must not be used afterwards.</summary>
    public void Dispose()
    {
        for (int l = 0; l < _keys.Length; l++)
        {
            if (_keys[l] is { Length: > 0 } k) Memory.BufferPool.Return(k);
            if (_values[l] is { Length: > 0 } v) Memory.BufferPool.Return(v);
            _keys[l] = _values[l] = [];
        }
        Recurrent?.Dispose();
    }

    /// <summary>
    /// Keeps rows <paramref name="rows"/> (ascending) of the batch, in that order, and drops the others: row i of the
    /// cache becomes what row rows[i] was. The rows move down in place; the capacity stays.
    /// </summary>
    public void Keep(ReadOnlySpan<int> rows)
    {
        int rowFloats = Capacity * KvHeads * HeadDim, used = Length * KvHeads * HeadDim;
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] < i || rows[i] >= Batch || i > 0 && rows[i] <= rows[i - 1]) throw new ArgumentException($"KvCache.Keep: rows must ascend within the batch of {Batch}");
            if (rows[i] == i) continue;
            for (int l = 0; l < _keys.Length; l++)
            {
                Array.Copy(_keys[l], (long)rows[i] * rowFloats, _keys[l], (long)i * rowFloats, used);
                Array.Copy(_values[l], (long)rows[i] * rowFloats, _values[l], (long)i * rowFloats, used);
            }
        }
        Recurrent?.Keep(rows);
        Batch = rows.Length;
    }

    /// <summary>
    /// Stores k/v of the new tokens ([B, Tnew, Hkv, D]) after the cached ones and attends q [B, Tnew, Hq, D] over all
    /// Length + Tnew keys, causally. <paramref name="keyValid"/> ([B·capacity], optional) marks padding keys.
    /// </summary>
    public unsafe Tensor Attend(int layer, Tensor q, Tensor kNew, Tensor vNew, bool[]? keyValid = null)
    {
        int b = q.Shape[0], tNew = q.Shape[1], hq = q.Shape[2], d = q.Shape[3];
        if (b != Batch || kNew.Shape[1] != tNew || kNew.Shape[2] != KvHeads || d != HeadDim || !ShapeOf.Equal(kNew.Shape, vNew.Shape))
            throw new ArgumentException($"KvCache.Attend: q {ShapeOf.Format(q.Shape)}, k {ShapeOf.Format(kNew.Shape)} do not fit a cache of batch {Batch}, {KvHeads} kv heads, head dim {HeadDim}");
        if (Length + tNew > Capacity) throw new InvalidOperationException($"KvCache: {Length} + {tNew} tokens exceed the capacity of {Capacity}");
        int row = KvHeads * HeadDim;
        for (int bi = 0; bi < b; bi++)
        {
            int dst = (bi * Capacity + Length) * row;
            kNew.Data.Slice(bi * tNew * row, tNew * row).CopyTo(_keys[layer].AsSpan(dst));
            vNew.Data.Slice(bi * tNew * row, tNew * row).CopyTo(_values[layer].AsSpan(dst));
        }
        int s = Length + tNew;
        if (keyValid is not null && keyValid.Length < b * Capacity) throw new ArgumentException($"KvCache.Attend: {keyValid.Length} key flags for {b} rows of capacity {Capacity}");
        var geo = new AttentionGeometry(b, tNew, s, hq, KvHeads, d, Length, true, keyValid, Segments: null, qRow: hq * d, kvRow: row, kvBatch: Capacity * row,
            KeyValidStride: Capacity);   // the flags are read in place, rows of Capacity
        var o = Tensor.Empty([b, tNew, hq, d]);
        fixed (float* pq = q.Buffer, pk = _keys[layer], pv = _values[layer], po = o.Buffer)
            AttentionKernels.Forward(geo, pq + q.Offset, pk, pv, po + o.Offset, null);
        return o;
    }

    /// <summary>Marks the tokens appended by the last <see cref="Attend"/> calls as cached.</summary>
    public void Advance(int tokens)
    {
        if (Length + tokens > Capacity) throw new InvalidOperationException($"KvCache: advancing by {tokens} passes the capacity of {Capacity}");
        Length += tokens;
    }

    public void Reset() => Length = 0;

    /// <summary>
    /// A new cache in which row b of this one appears counts[b] times, consecutively (G samples of one prompt share
    /// its prefilled keys and values: the prompt is encoded once, then forked).
    /// </summary>
    public KvCache Repeat(IReadOnlyList<int> counts)
    {
        if (counts.Count != Batch) throw new ArgumentException($"KvCache.Repeat: {counts.Count} counts for a batch of {Batch}");
        var fork = new KvCache(_keys.Length, counts.Sum(), KvHeads, HeadDim, Capacity) { Length = Length, Recurrent = Recurrent?.Repeat(counts) };
        int rowFloats = Capacity * KvHeads * HeadDim, used = Length * KvHeads * HeadDim, dst = 0;
        for (int b = 0; b < Batch; b++)
            for (int c = 0; c < counts[b]; c++, dst++)
                for (int l = 0; l < _keys.Length; l++)
                {
                    Array.Copy(_keys[l], b * rowFloats, fork._keys[l], dst * rowFloats, used);
                    Array.Copy(_values[l], b * rowFloats, fork._values[l], dst * rowFloats, used);
                }
        return fork;
    }
}

namespace Ril.Tensors.Tests;

/// <summary>
/// The linear-attention decoding state riding on a KV cache (docs/spec/QWEN3_5.md "The hybrid cache"): forking copies
/// each row's conv inputs and state (a sample's later writes never reach its siblings), and dropping finished rows moves
/// the kept ones down and narrows the tensors the ops see to the new batch.
/// </summary>
public sealed class RecurrentCacheTests
{
    static void FillRows(RecurrentCache cache)
    {
        foreach (var t in cache.Conv.Concat(cache.State))
        {
            int n = t.Length / t.Shape[0];
            for (int r = 0; r < t.Shape[0]; r++) t.Data.Slice(r * n, n).Fill(r + 1);
        }
    }

    static float[] RowValues(Tensor t) => Enumerable.Range(0, t.Shape[0]).Select(r => t.Data[r * (t.Length / t.Shape[0])]).ToArray();

    [Fact]
    public void Repeat_copies_each_rows_state_and_keep_narrows_to_the_kept_rows()
    {
        using var kv = new KvCache(1, 3, 1, 2, 4) { Recurrent = new RecurrentCache(2, 3, channels: 5, kernel: 4, valueHeads: 2, keyDim: 3, valueDim: 2) };
        FillRows(kv.Recurrent!);
        using var fork = kv.Repeat([2, 0, 1]);
        var state = fork.Recurrent!;
        Assert.Equal(3, state.Batch);
        Assert.Equal([3, 2, 3, 2], state.State[1].Shape);
        Assert.Equal([1f, 1f, 3f], RowValues(state.State[1]));
        Assert.Equal([1f, 1f, 3f], RowValues(state.Conv[0]));
        state.State[1].Data[0] = 42;                                                 // sample 0 writes: its sibling and the prompt keep theirs
        Assert.Equal(1f, state.State[1].Data[state.State[1].Length / 3]);
        Assert.Equal(1f, kv.Recurrent!.State[1].Data[0]);

        fork.Keep([1, 2]);
        Assert.Equal(2, state.Batch);
        Assert.Equal([2, 5, 3], state.Conv[0].Shape);
        Assert.Equal([2, 2, 3, 2], state.State[1].Shape);
        Assert.Equal([1f, 3f], RowValues(state.State[1]));
        Assert.Equal([1f, 3f], RowValues(state.Conv[1]));
    }
}

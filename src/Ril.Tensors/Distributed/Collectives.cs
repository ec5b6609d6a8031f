using System.Runtime.InteropServices;
using System.Text.Json;

namespace Ril.Tensors.Distributed;

/// <summary>
/// Collectives built from <see cref="ICommunicator"/>'s few: pooled sums, gathers of variable-length arrays and of
/// JSON-serialisable values. A gather is exact: every slot is filled by one process and added to zeros elsewhere.
/// </summary>
public static class Collectives
{
    /// <summary>The element-wise sums over all processes of <paramref name="values"/> (summed in place, and returned).</summary>
    public static double[] Sum(this ICommunicator comm, params double[] values)
    {
        comm.AllReduceSum(values);
        return values;
    }

    /// <summary>How many elements each process has: [rank] = its <paramref name="count"/>.</summary>
    public static int[] GatherCounts(this ICommunicator comm, int count)
    {
        var counts = new double[comm.Size];
        counts[comm.Rank] = count;
        comm.AllReduceSum(counts);
        return counts.Select(c => (int)c).ToArray();
    }

    /// <summary>Every process's array, concatenated in rank order (lengths may differ between processes).</summary>
    public static float[] AllGather(this ICommunicator comm, ReadOnlySpan<float> local)
    {
        if (comm.Size == 1) return local.ToArray();
        var counts = comm.GatherCounts(local.Length);
        var all = new float[counts.Sum()];
        local.CopyTo(all.AsSpan(counts.Take(comm.Rank).Sum()));
        comm.AllReduceSum(all);
        return all;
    }

    /// <summary>Every process's value, in rank order, through JSON (for records of metrics and samples, not for tensors).</summary>
    public static List<T> AllGatherJson<T>(this ICommunicator comm, T local)
    {
        var mine = JsonSerializer.SerializeToUtf8Bytes(local);
        if (comm.Size == 1) return [local];
        var lengths = comm.GatherCounts(mine.Length);
        var all = new List<T>(comm.Size);
        for (int rank = 0; rank < comm.Size; rank++)
        {
            var bytes = rank == comm.Rank ? mine : new byte[lengths[rank]];
            comm.Broadcast(bytes, rank);
            all.Add(rank == comm.Rank ? local : JsonSerializer.Deserialize<T>(bytes)
                ?? throw new InvalidDataException($"AllGatherJson: rank {rank} sent an empty {typeof(T).Name}"));
        }
        return all;
    }

    /// <summary>Rank <paramref name="root"/>'s floats in every process's span of the same length.</summary>
    public static void Broadcast(this ICommunicator comm, Span<float> values, int root = 0) =>
        comm.Broadcast(MemoryMarshal.AsBytes(values), root);

    /// <summary>The contiguous share [Start, Start + Count) of <paramref name="total"/> items that this process takes (the first ranks take one more when it does not divide).</summary>
    public static (int Start, int Count) ShareOf(this ICommunicator comm, int total)
    {
        int Start(int rank) => (int)((long)total * rank / comm.Size);
        return (Start(comm.Rank), Start(comm.Rank + 1) - Start(comm.Rank));
    }
}

using Ril.Tensors.Distributed;

namespace Ril.Training;

/// <summary>
/// The rows of a step's global batch as every process sees them in a data-parallel run: rows are numbered question by
/// question over the whole batch (each process holds a contiguous range, its own questions' groups), with each row's
/// masked length and whether it trains. Every process can then cut the same mini- and micro-batches as a single process
/// would, run the rows of each that it holds, and normalise by the whole micro-batch.
/// </summary>
public sealed class GlobalRows
{
    /// <summary>This process's first row in the global numbering.</summary>
    public int Offset { get; }
    /// <summary>How many rows this process holds.</summary>
    public int LocalCount { get; }
    /// <summary>Masked length M_i of every global row.</summary>
    public float[] Lengths { get; }
    /// <summary>Global rows that take part in the update, ascending.</summary>
    public int[] Train { get; }
    /// <summary>Whether each global row is a teacher's response.</summary>
    public bool[] Teacher { get; }

    GlobalRows(int offset, int localCount, float[] lengths, int[] train, bool[] teacher) =>
        (Offset, LocalCount, Lengths, Train, Teacher) = (offset, localCount, lengths, train, teacher);

    /// <summary>Gathers the lengths and training flags of every process's rows (one process: its trajectory as it is).</summary>
    public static GlobalRows Of(Trajectory tr, ICommunicator world)
    {
        int rows = tr.Rollouts.Count;
        var local = new float[3 * rows];                          // (length, trains, teacher) per row
        for (int r = 0; r < rows; r++) (local[3 * r], local[3 * r + 2]) = (tr.MaskedLength(r), tr.Rollouts[r].IsTeacher ? 1 : 0);
        foreach (var r in tr.TrainRows) local[3 * r + 1] = 1;
        var all = world.AllGather(local);
        var lengths = new float[all.Length / 3];
        var teacher = new bool[lengths.Length];
        var train = new List<int>();
        for (int r = 0; r < lengths.Length; r++)
        {
            (lengths[r], teacher[r]) = (all[3 * r], all[3 * r + 2] != 0);
            if (all[3 * r + 1] != 0) train.Add(r);
        }
        int offset = world.Size == 1 ? 0 : world.GatherCounts(rows).Take(world.Rank).Sum();
        return new GlobalRows(offset, rows, lengths, [.. train], teacher);
    }

    /// <summary>Valid tokens of the training rows of the whole batch (dapo's normaliser).</summary>
    public float ValidTokens => Train.Sum(r => Lengths[r]);

    /// <summary>Σ M over some global rows.</summary>
    public float TokensOf(int[] globalRows) => globalRows.Sum(r => Lengths[r]);

    /// <summary>Of some global rows, those this process holds, as indices into its own trajectory.</summary>
    public int[] LocalOf(int[] globalRows) =>
        globalRows.Where(r => r >= Offset && r < Offset + LocalCount).Select(r => r - Offset).ToArray();
}

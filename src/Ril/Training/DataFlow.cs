using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Distributed;

namespace Ril.Training;

/// <summary>A question ready for the model: its prompt tokens and pixels, and what rewards need.</summary>
public sealed record Question(DatasetRow Row, int[] PromptIds, PixelInputs? Pixels)
{
    /// <summary>Its index in the step's global batch (the same on every process; it seeds its rollouts), or null outside a step.</summary>
    public int? BatchIndex { get; init; }
}

/// <summary>
/// Step 1 of the pipeline: batches of questions in a seeded order, epoch after epoch, rendered into prompts
/// (chat template with the image placeholder) and preprocessed pixels. Its position is part of a checkpoint.
/// In a data-parallel run every process walks the same global order and renders only its contiguous share of each
/// global batch, so the global batch, the position and the checkpoint do not depend on the number of processes.
/// </summary>
public sealed class DataFlow
{
    readonly IReadOnlyList<DatasetRow> _rows;
    readonly ChatModel _policy;
    readonly ulong _seed;
    readonly ICommunicator _world;
    int[] _order;

    public int Epoch { get; private set; }
    /// <summary>The dataset's rows, in file order.</summary>
    public IReadOnlyList<DatasetRow> Rows => _rows;
    /// <summary>Index of the next question in this epoch's order.</summary>
    public int Position { get; private set; }

    /// <param name="world">The processes sharing each batch (default <see cref="World.Current"/>).</param>
    public DataFlow(IReadOnlyList<DatasetRow> rows, ChatModel policy, ulong seed, ICommunicator? world = null)
    {
        if (rows.Count == 0) throw new ArgumentException("DataFlow: the dataset is empty");
        (_rows, _policy, _seed, _world) = (rows, policy, seed, world ?? World.Current);
        _order = OrderOf(0);
    }

    int[] OrderOf(int epoch)
    {
        var order = Enumerable.Range(0, _rows.Count).ToArray();
        new Rng(_seed + (ulong)epoch * 1_000_003UL).Shuffle(order);
        return order;
    }

    /// <summary>
    /// The next global batch of <paramref name="count"/> questions, wrapping into the next epoch; of it, this process's
    /// share (all of it in a single process), each question carrying its index in the global batch.
    /// </summary>
    public List<Question> Next(int count)
    {
        if (count < _world.Size)
            throw new ArgumentException($"DataFlow: a batch of {count} questions cannot be shared by {_world.Size} processes (trainer.questions_per_step must be at least the number of processes)");
        var (start, share) = _world.ShareOf(count);
        var batch = new List<Question>(share);
        for (int i = 0; i < count; i++)
        {
            if (Position == _order.Length) { Epoch++; Position = 0; _order = OrderOf(Epoch); }
            var row = _rows[_order[Position++]];
            if (i >= start && i < start + share) batch.Add(Render(row) with { BatchIndex = i });
        }
        return batch;
    }

    public Question Render(DatasetRow row)
    {
        var (prompt, pixels) = _policy.Prompt(row);
        return new Question(row, prompt, pixels);
    }

    /// <summary>Restores the position saved in a checkpoint.</summary>
    public void Seek(int epoch, int position)
    {
        Epoch = epoch;
        _order = OrderOf(epoch);
        Position = Math.Clamp(position, 0, _order.Length);
    }
}

using Ril.Data;
using Ril.Models;
using Ril.Tensors;

namespace Ril.Training;

/// <summary>A question ready for the model: its prompt tokens and pixels, and what rewards need.</summary>
public sealed record Question(DatasetRow Row, int[] PromptIds, Tensor? Pixels);

/// <summary>
/// Step 1 of the pipeline: batches of questions in a seeded order, epoch after epoch, rendered into prompts
/// (chat template with the image placeholder) and preprocessed pixels. Its position is part of a checkpoint.
/// </summary>
public sealed class DataFlow
{
    readonly IReadOnlyList<DatasetRow> _rows;
    readonly Policy _policy;
    readonly VlmConfig? _imageConfig;
    readonly ulong _seed;
    int[] _order;

    public int Epoch { get; private set; }
    /// <summary>Index of the next question in this epoch's order.</summary>
    public int Position { get; private set; }

    public DataFlow(IReadOnlyList<DatasetRow> rows, Policy policy, VlmConfig? imageConfig, ulong seed)
    {
        if (rows.Count == 0) throw new ArgumentException("DataFlow: the dataset is empty");
        (_rows, _policy, _imageConfig, _seed) = (rows, policy, imageConfig, seed);
        _order = OrderOf(0);
    }

    int[] OrderOf(int epoch)
    {
        var order = Enumerable.Range(0, _rows.Count).ToArray();
        new Rng(_seed + (ulong)epoch * 1_000_003UL).Shuffle(order);
        return order;
    }

    /// <summary>The next <paramref name="count"/> questions, wrapping into the next epoch.</summary>
    public List<Question> Next(int count)
    {
        var batch = new List<Question>(count);
        while (batch.Count < count)
        {
            if (Position == _order.Length) { Epoch++; Position = 0; _order = OrderOf(Epoch); }
            batch.Add(Render(_rows[_order[Position++]]));
        }
        return batch;
    }

    public Question Render(DatasetRow row)
    {
        bool image = row.HasImage && _imageConfig?.Vision is not null;
        var pixels = image ? ModelDirectory.LoadPixels(row.ImagePath!, _imageConfig!) : null;
        return new Question(row, _policy.Prompt(row.Question, image), pixels);
    }

    /// <summary>Restores the position saved in a checkpoint.</summary>
    public void Seek(int epoch, int position)
    {
        Epoch = epoch;
        _order = OrderOf(epoch);
        Position = Math.Clamp(position, 0, _order.Length);
    }
}

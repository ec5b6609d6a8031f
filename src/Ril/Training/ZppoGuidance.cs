using Ril.Data;

namespace Ril.Training;

/// <summary>
/// ZPPO (docs/spec/RIL.md "ZPPO"): the teacher reaches the student through prompts, never through the gradient. A question
/// whose student accuracy is below the threshold is hard: it enters a replay buffer that brings it back in later steps
/// until it graduates (accuracy ≥ threshold) or is evicted (the oldest first when a full buffer admits another), and it
/// gets two reformulated prompts the student answers in the same step, rewarded by the same answer reward:
/// BCQ (the question with two anonymised candidates, one correct teacher response and one wrong student response, in a
/// seeded order) and NCQ (the question with up to m of the student's wrong responses).
/// </summary>
public sealed class ZppoGuidance(ZppoConfig config)
{
    readonly List<DatasetRow> _buffer = [];                     // oldest first

    public ZppoConfig Config { get; } = config;
    public IReadOnlyList<DatasetRow> Buffer => _buffer;

    /// <summary>What one step did to the buffer.</summary>
    public sealed record Changes(int Admitted, int Graduated, int Evicted);

    /// <summary>
    /// The buffered questions replayed this step: the <see cref="ZppoConfig.ReplayPerStep"/> oldest, each moved to the back so
    /// that the buffer is visited in turn. They stay in the buffer until <see cref="Observe"/> graduates them.
    /// </summary>
    public List<DatasetRow> TakeReplay()
    {
        var replay = _buffer.Take(Config.ReplayPerStep).ToList();
        foreach (var row in replay) { _buffer.Remove(row); _buffer.Add(row); }
        return replay;
    }

    /// <summary>Admits the hard questions of a step and graduates the buffered ones that are no longer hard.</summary>
    /// <param name="accuracy">Per question of the step (fresh and replayed): its student accuracy (mean answer reward ≥ 0.5).</param>
    public Changes Observe(IReadOnlyList<DatasetRow> questions, IReadOnlyList<float> accuracy)
    {
        int admitted = 0, graduated = 0, evicted = 0;
        for (int q = 0; q < questions.Count; q++)
        {
            int at = _buffer.FindIndex(r => r.Id == questions[q].Id);
            if (accuracy[q] >= Config.Threshold)
            {
                if (at >= 0) { _buffer.RemoveAt(at); graduated++; }
                continue;
            }
            if (at >= 0) continue;                              // still hard: stays where it is
            if (_buffer.Count == Config.BufferCapacity) { _buffer.RemoveAt(0); evicted++; }
            _buffer.Add(questions[q]);
            admitted++;
        }
        return new Changes(admitted, graduated, evicted);
    }

    /// <summary>The BCQ prompt: the question, then two candidates in the order <paramref name="correctFirst"/> says, and the instruction.</summary>
    public static string Bcq(string question, string correct, string wrong, bool correctFirst)
    {
        var (first, second) = correctFirst ? (correct, wrong) : (wrong, correct);
        return $"{question}\n\nTwo candidate solutions follow; exactly one of them is right.\nCandidate 1: {first.Trim()}\nCandidate 2: {second.Trim()}\n" +
               "Check them against the question, then write your own solution.";
    }

    /// <summary>The NCQ prompt: the question, then the student's wrong attempts, and the instruction.</summary>
    public static string Ncq(string question, IReadOnlyList<string> wrong)
    {
        var attempts = string.Join("\n", wrong.Select((w, i) => $"Attempt {i + 1}: {w.Trim()}"));
        return $"{question}\n\nThese attempts are wrong:\n{attempts}\nAvoid their mistakes and write your own solution.";
    }

    /// <summary>The buffer as a checkpoint keeps it: question ids, oldest first.</summary>
    public string Save() => string.Join("\n", _buffer.Select(r => r.Id));

    /// <summary>Restores the buffer saved by <see cref="Save"/>; ids the dataset no longer has are dropped.</summary>
    public void Restore(string saved, IReadOnlyDictionary<string, DatasetRow> rows)
    {
        _buffer.Clear();
        foreach (var id in saved.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (rows.TryGetValue(id, out var row)) _buffer.Add(row);
    }
}

using Ril.Models;
using Ril.Rewards;
using Ril.Tensors.Autograd;
using Ril.Tensors.Distributed;
using Ril.Tensors.Memory;

namespace Ril.Training;

/// <summary>Everything the update needs about a step's responses, rows padded to L (docs/spec/MAYE.md step 3).</summary>
public sealed class Trajectory
{
    public required List<Question> Questions { get; init; }
    public required List<Rollout> Rollouts { get; init; }
    /// <summary>Responses per group (G, or 2G in RIL).</summary>
    public required int GroupSize { get; init; }
    public required int MaxLength { get; init; }
    /// <summary>[rows·L], 1 on response tokens up to and including the first end token.</summary>
    public required float[] Mask { get; init; }
    public required float[] OldLogProbs { get; init; }
    public float[]? RefLogProbs { get; init; }
    public required float[] Rewards { get; init; }
    public required Dictionary<string, float[]> RewardsByName { get; init; }
    /// <summary>Per row [rows], or per token [rows·L] for reinforce_pp.</summary>
    public required float[] Advantages { get; init; }
    /// <summary>The last rows, which belong to no group (RIL's CHORD teacher rows).</summary>
    public int OutsideGroups { get; init; }
    /// <summary>Rows that take part in the update (zero-variance groups may be left out).</summary>
    public required int[] TrainRows { get; init; }
    public required float[] Entropy { get; init; }
    /// <summary>Share of the global batch's groups whose rewards are all equal.</summary>
    public required float ZeroVarianceShare { get; init; }
    /// <summary>Time spent on π_old/π_ref log-probs and on rewards, for the step's breakdown.</summary>
    public required double LogProbSeconds { get; init; }
    public required double RewardSeconds { get; init; }

    public float ValidTokens => TrainRows.Sum(r => MaskedLength(r));
    public float MaskedLength(int row) { float s = 0; for (int t = 0; t < MaxLength; t++) s += Mask[row * MaxLength + t]; return s; }
}

/// <summary>
/// Step 3 of the pipeline, with no gradient: masks, π_old and π_ref log-probs, rewards and advantages. In a data-parallel
/// run each process builds the rows of its own questions; whitening and the zero-variance share are global.
/// </summary>
public sealed class TrajectoryBuilder(ChatModel policy, ChatModel? reference, RewardSet rewards, RlConfig config, ICommunicator? world = null)
{
    readonly ICommunicator _world = world ?? World.Current;

    /// <param name="outsideGroups">The last rows of <paramref name="rollouts"/> that belong to no group (RIL's CHORD teacher rows):
    /// scored and given log-probs, advantage 0, always in the update.</param>
    public Trajectory Build(List<Question> questions, List<Rollout> rollouts, int groupSize, int outsideGroups = 0)
    {
        int rows = rollouts.Count, L = config.MaxResponseTokens;
        var stops = policy.StopTokens;
        var mask = new float[rows * L];
        for (int r = 0; r < rows; r++)
        {
            var tokens = rollouts[r].Tokens;
            bool truncated = rollouts[r].FinishReason == Models.Generation.GeneratedSequence.Length;
            if (truncated && config.MaskTruncated) continue;
            for (int t = 0; t < Math.Min(tokens.Length, L); t++)
            {
                mask[r * L + t] = 1f;
                if (stops.Contains(tokens[t])) break;   // everything after the first end token is padding
            }
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var old = new float[rows * L];
        var entropy = new float[rows * L];
        float[]? refLp = reference is not null && config.KlCoef != 0 ? new float[rows * L] : null;
        // π_old: the sampler's own log-probs where it recorded them (trainer.old_logprobs: sampler), a forward for the other rows.
        var scored = Enumerable.Range(0, rows).Where(r => rollouts[r].SamplerLogProbs is null || rollouts[r].SamplerEntropies is null).ToArray();
        foreach (int r in Enumerable.Range(0, rows).Except(scored))
        {
            int n = Math.Min(rollouts[r].Tokens.Length, L);
            rollouts[r].SamplerLogProbs.AsSpan(0, n).CopyTo(old.AsSpan(r * L));
            rollouts[r].SamplerEntropies.AsSpan(0, n).CopyTo(entropy.AsSpan(r * L));
        }
        using (NoGrad.Begin())
        {
            ForEachMicroBatch(scored, batch =>
            {
                var (lp, ent) = ResponseLogProbs.Compute(policy, batch.Select(r => Row(questions, rollouts[r], L)).ToList(), L, withEntropy: true, pack: config.Pack, sharePrompt: config.SharePrompt);
                Scatter(lp.Data, batch, old);
                Scatter(ent!, batch, entropy);
            });
            if (refLp is not null)
                ForEachMicroBatch(Enumerable.Range(0, rows).ToArray(), batch =>
                    Scatter(ResponseLogProbs.Compute(reference!, batch.Select(r => Row(questions, rollouts[r], L)).ToList(), L, pack: config.Pack, sharePrompt: config.SharePrompt).LogProbs.Data, batch, refLp));
        }

        double logProbSeconds = clock.Elapsed.TotalSeconds;
        var (total, byName) = rewards.Score(RewardInputs(questions, rollouts));
        double rewardSeconds = clock.Elapsed.TotalSeconds - logProbSeconds;

        int grouped = rows - outsideGroups;
        var groupRewards = total.AsSpan(0, grouped);
        float[] advantages = config.Objective == Objective.ReinforcePP
            ? Advantages.ReinforcePlusPlus(total, mask, L, _world)
            : [.. Advantages.GroupRelative(groupRewards, groupSize, config.Objective.ScalesByStd()), .. new float[outsideGroups]];   // groups never span processes
        var flat = Advantages.ZeroVarianceGroups(groupRewards, groupSize);
        var flatAndAll = _world.Sum(flat.Count(f => f), flat.Length);                          // pooled over the global batch
        var train = Enumerable.Range(0, rows).Where(r => r >= grouped || !(config.FilterZeroVarianceGroups && flat[r / groupSize])).ToArray();
        return new Trajectory
        {
            Questions = questions, Rollouts = rollouts, GroupSize = groupSize, MaxLength = L, Mask = mask, OldLogProbs = old,
            RefLogProbs = refLp, Rewards = total, RewardsByName = byName, Advantages = advantages, TrainRows = train, OutsideGroups = outsideGroups,
            Entropy = entropy, ZeroVarianceShare = flatAndAll[1] == 0 ? 0 : (float)(flatAndAll[0] / flatAndAll[1]),
            LogProbSeconds = logProbSeconds, RewardSeconds = rewardSeconds,
        };
    }

    /// <summary>Runs <paramref name="body"/> over <paramref name="rows"/> in micro-batches, each in its own tensor scope.</summary>
    void ForEachMicroBatch(int[] rows, Action<int[]> body)
    {
        for (int start = 0; start < rows.Length; start += config.MicroBatchSize)
        {
            using var scope = TensorScope.Begin();
            body(rows[start..Math.Min(rows.Length, start + config.MicroBatchSize)]);
        }
    }

    /// <summary>Row i of <paramref name="values"/> ([batch·L]) to row batch[i] of <paramref name="into"/>.</summary>
    void Scatter(ReadOnlySpan<float> values, int[] batch, float[] into)
    {
        int L = config.MaxResponseTokens;
        for (int i = 0; i < batch.Length; i++) values.Slice(i * L, L).CopyTo(into.AsSpan(batch[i] * L));
    }

    /// <summary>What the rewards see of each rollout: its question, the gold answer, the text, and (the student's own) its length and end.</summary>
    public static List<RewardInput> RewardInputs(List<Question> questions, IEnumerable<Rollout> rollouts) =>
        rollouts.Select(r => new RewardInput(questions[r.Question].Row.Id, questions[r.Question].Row.Question, questions[r.Question].Row.Answer, r.Text)
        {
            ResponseTokens = r.IsTeacher ? null : r.Tokens.Length,
            HasEndToken = r.IsTeacher ? null : r.FinishReason == Models.Generation.GeneratedSequence.Stop,
        }).ToList();

    /// <summary>Rows [start, start + count) of a step as log-prob rows (responses cut to L).</summary>
    public static List<ResponseLogProbs.Row> Rows(List<Question> questions, List<Rollout> rollouts, int start, int count, int maxLen) =>
        Enumerable.Range(start, count).Select(r => Row(questions, rollouts[r], maxLen)).ToList();

    public static ResponseLogProbs.Row Row(List<Question> questions, Rollout r, int maxLen) =>
        new(questions[r.Question].PromptIds, questions[r.Question].Pixels, r.Tokens.Length > maxLen ? r.Tokens[..maxLen] : r.Tokens);
}

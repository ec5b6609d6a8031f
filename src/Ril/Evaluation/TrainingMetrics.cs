using Ril.Rewards;
using Ril.Training;

namespace Ril.Evaluation;

/// <summary>A training response as the reward saw it: its text, its verdict, and (for the student's own) its token count and end.</summary>
public sealed record ScoredResponse(string QuestionId, string Question, string GroundTruth, string Response, bool Correct, int? Tokens, bool? HasEndToken)
{
    public bool IsStudent => Tokens is not null;
}

/// <summary>
/// Records the responses an accuracy reward scores during a step, with their verdicts (score ≥ 0.5 is correct), so
/// that reflection and length statistics can be computed over the step's rollouts. Wraps the reward without changing
/// it: same name, same scores.
/// </summary>
public sealed class RolloutRecorder(IRewardFunction accuracy) : IRewardFunction
{
    List<ScoredResponse> _recorded = [];

    public string Name => accuracy.Name;
    /// <summary>The reward it records, for scores that must not be recorded (RIL's decision which groups need a teacher).</summary>
    public IRewardFunction Inner => accuracy;

    public async Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default)
    {
        var scores = await accuracy.ScoreAsync(batch, cancellation).ConfigureAwait(false);
        var recorded = batch.Select((b, i) => new ScoredResponse(b.QuestionId, b.Question, b.GroundTruth, b.Response, scores[i] >= 0.5f, b.ResponseTokens, b.HasEndToken));
        lock (this) _recorded.AddRange(recorded);
        return scores;
    }

    /// <summary>What was scored since the last call, and forgets it.</summary>
    public IReadOnlyList<ScoredResponse> Take()
    {
        lock (this) { var r = _recorded; _recorded = []; return r; }
    }
}

/// <summary>
/// The per-step metrics of docs/spec/MAYE.md under their logged names: rewards by component, losses, clip fraction, ratio,
/// approximate policy KL, full-vocabulary entropy, KL to the reference, learning rate, gradient norm, response length
/// (mean and quantiles), length-clip ratio, end-token share, throughput, training accuracy, and the reflection word
/// counts and ratios. A metric that was not measured (KL with no reference, a ratio with an empty denominator) is null.
/// </summary>
public static class TrainingMetrics
{
    public static readonly string[] LengthQuantiles = ["min", "p25", "p50", "p75", "max"];

    /// <param name="responses">The step's scored responses (from <see cref="RolloutRecorder"/>); only the student's own count for length and reflection.</param>
    /// <param name="klMeasured">False when the run has no reference model (β = 0): the KL to the reference is then missing, not 0.</param>
    public static List<KeyValuePair<string, double?>> Of(StepMetrics m, IReadOnlyList<ScoredResponse> responses, bool klMeasured, double? epochAccuracy = null, int? epoch = null)
    {
        var list = new List<KeyValuePair<string, double?>>();
        void Add(string name, double? value) => list.Add(new(name, value));
        var u = m.Update;
        Add("epoch", epoch);
        Add("reward/total", m.Reward);
        foreach (var (name, value) in m.RewardByName.OrderBy(kv => kv.Key, StringComparer.Ordinal)) Add($"reward/{name}", value);
        Add("loss/total", u.Loss);
        Add("loss/policy", u.PolicyLoss);
        Add("loss/kl", klMeasured ? u.Kl : null);
        Add("train/kl_ref", klMeasured ? u.Kl : null);
        Add("train/clip_fraction", u.ClipFraction);
        Add("train/ratio", u.MeanRatio);
        Add("train/approx_kl", u.ApproxKl);
        Add("train/entropy", m.Entropy);
        Add("train/lr", u.LearningRate);
        Add("train/grad_norm", u.OptimizerSteps > 0 ? u.GradNorm : null);
        Add("train/optimizer_steps", u.OptimizerSteps);
        Add("train/skipped_steps", u.SkippedSteps);
        Add("train/zero_variance_share", m.ZeroVarianceShare);

        var student = responses.Where(r => r.IsStudent).ToList();
        Add("accuracy/train", student.Count == 0 ? null : student.Average(r => r.Correct ? 1.0 : 0.0));
        Add("accuracy/train_epoch", epochAccuracy);
        Add("response/length_mean", m.ResponseLength);
        var lengths = student.Select(r => (double)r.Tokens!.Value).Order().ToArray();
        double?[] q = lengths.Length == 0 ? [null, null, null, null, null]
            : [lengths[0], Quantile(lengths, 0.25), Quantile(lengths, 0.5), Quantile(lengths, 0.75), lengths[^1]];
        for (int i = 0; i < LengthQuantiles.Length; i++) Add($"response/length_{LengthQuantiles[i]}", q[i]);
        Add("response/length_clip_ratio", m.LengthClipRatio);
        Add("response/end_token_share", m.EndTokenShare);

        Add("speed/rollout_tokens_per_s", m.RolloutTokensPerSecond);
        Add("speed/update_tokens_per_s", m.UpdateTokensPerSecond);
        Add("speed/rollout_s", m.RolloutSeconds);
        Add("speed/logprob_s", m.LogProbSeconds);
        Add("speed/reward_s", m.RewardSeconds);
        Add("speed/update_s", u.Seconds);
        Add("speed/allreduce_s", u.AllReduceSeconds);
        // Of the positions the update's forwards computed (this process), the share that was padding: trainer.pack lowers it.
        Add("speed/update_padded_share", u.ForwardPositions > 0 ? 1 - u.SequencePositions / (double)u.ForwardPositions : null);
        // The positions themselves: trainer.share_prompt lowers them further, computing each question's prompt once.
        Add("speed/update_positions", u.ForwardPositions > 0 ? u.ForwardPositions : null);

        var reflection = ReflectionMetrics.Compute(student.Select(r => (r.Response, r.Correct)));
        foreach (var (name, value) in reflection.Ratios) Add($"reflection/{name}", value);
        foreach (var word in ReflectionMetrics.Words) Add($"reflection_words/{word}", reflection.WordCounts[word]);
        if (m.Extra is not null) list.AddRange(m.Extra);
        return list;
    }

    /// <summary>Linear interpolation between closest ranks (numpy's default) of sorted values.</summary>
    public static double Quantile(double[] sorted, double p)
    {
        double at = p * (sorted.Length - 1);
        int lo = (int)Math.Floor(at), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
    }
}

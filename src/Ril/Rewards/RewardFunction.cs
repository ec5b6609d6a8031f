namespace Ril.Rewards;

/// <summary>
/// One response to score. <see cref="ResponseTokens"/> and <see cref="HasEndToken"/> are known only to
/// the sampler that produced the response (null for cached teacher text); the length penalties need them.
/// </summary>
public sealed record RewardInput(string QuestionId, string Question, string GroundTruth, string Response)
{
    /// <summary>Number of response tokens (up to and including the end token), when known.</summary>
    public int? ResponseTokens { get; init; }

    /// <summary>Whether the sampler emitted an end token before hitting its length limit, when known.</summary>
    public bool? HasEndToken { get; init; }
}

/// <summary>
/// A named reward over a batch of responses. The training loop composes several of these, each with a
/// weight (docs/spec/MAYE.md: score = accuracy + format + language; docs/spec/RIL.md: R = similarity + answer).
/// </summary>
public interface IRewardFunction
{
    /// <summary>The name metrics are logged under ("answer", "judge", "format", "language", …).</summary>
    string Name { get; }

    /// <summary>One score per input, in input order. Never throws for a bad response: a bad response scores low.</summary>
    Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default);
}

/// <summary>
/// The rule-based answer reward: 1 when the response's final answer is equivalent to the ground truth
/// under <see cref="MathVerifier"/>, else 0 (MAYE's accuracy reward; docs/spec/MAYE.md "Score per response").
/// </summary>
public sealed class AnswerReward(MathVerifier? verifier = null) : IRewardFunction
{
    readonly MathVerifier _verifier = verifier ?? new MathVerifier();

    public string Name => "answer";

    public MathVerifier Verifier => _verifier;

    /// <summary>1 or 0 for one response: any of its final-answer candidates equivalent to the ground truth.</summary>
    public float Score(string groundTruth, string response)
    {
        foreach (var candidate in AnswerExtraction.FinalAnswerCandidates(response))
            if (_verifier.Equivalent(groundTruth, candidate)) return 1f;
        return 0f;
    }

    public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
        Task.FromResult(batch.Select(input => Score(input.GroundTruth, input.Response)).ToArray());
}

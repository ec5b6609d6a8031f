namespace Ril.Rewards;

/// <summary>
/// MAYE's length penalty: a response that never emitted an end token (it hit the length limit), or that
/// is shorter than <see cref="MinResponseTokens"/>, has its whole score replaced by <see cref="Penalty"/>
/// (docs/spec/MAYE.md "Score per response"; −0.1 there, min_response_length 18 in MAYE's recipe).
/// It replaces rather than adds, so it is applied to the summed score, after the other rewards.
/// </summary>
public sealed record LengthPenalty
{
    public float Penalty { get; init; } = -0.1f;
    public bool PenaliseNoEndToken { get; init; } = true;
    /// <summary>Responses with fewer tokens than this are penalised; null for no minimum.</summary>
    public int? MinResponseTokens { get; init; }

    /// <summary>Whether <paramref name="input"/> is penalised. Unknown token counts (cached teacher text) are never penalised.</summary>
    public bool Applies(RewardInput input) =>
        (PenaliseNoEndToken && input.HasEndToken == false) ||
        (MinResponseTokens is { } min && input.ResponseTokens is { } tokens && tokens < min);

    /// <summary>Replaces the score of every penalised response; returns how many were.</summary>
    public int Apply(Span<float> scores, IReadOnlyList<RewardInput> batch)
    {
        if (scores.Length != batch.Count) throw new ArgumentException($"{scores.Length} scores for {batch.Count} responses");
        int penalised = 0;
        for (int i = 0; i < scores.Length; i++)
            if (Applies(batch[i])) { scores[i] = Penalty; penalised++; }
        return penalised;
    }
}

/// <summary>
/// DAPO's soft over-length penalty, an additive reward (Yu et al. 2025, "DAPO", Eq. 13): 0 up to
/// L_max − L_cache tokens, then falling linearly to −1 at L_max, and −1 beyond:
/// R = ((L_max − L_cache) − |o|) / L_cache for L_max − L_cache &lt; |o| ≤ L_max.
/// </summary>
public sealed class OverlongPenalty : IRewardFunction
{
    public int MaxTokens { get; }
    public int SoftTokens { get; }

    public OverlongPenalty(int maxTokens, int softTokens)
    {
        if (maxTokens < 1 || softTokens < 1 || softTokens > maxTokens)
            throw new ArgumentException($"over-length penalty needs 1 ≤ soft span ≤ max tokens (got max {maxTokens}, soft {softTokens})");
        MaxTokens = maxTokens; SoftTokens = softTokens;
    }

    public string Name => "overlong";

    public float Score(int responseTokens)
    {
        int free = MaxTokens - SoftTokens;
        if (responseTokens <= free) return 0f;
        if (responseTokens > MaxTokens) return -1f;
        return (float)(free - responseTokens) / SoftTokens;
    }

    /// <summary>Responses without a token count (cached teacher text) score 0.</summary>
    public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
        Task.FromResult(batch.Select(input => input.ResponseTokens is { } n ? Score(n) : 0f).ToArray());
}

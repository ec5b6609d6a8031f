namespace Ril.Rewards;

/// <summary>
/// MAYE's language reward, a penalty for drifting into Chinese: −coefficient × (share of the response's
/// characters that are CJK unified ideographs U+4E00–U+9FFF); 0 for an empty response (docs/spec/MAYE.md
/// "Score per response"; coefficient 0.1 there).
/// </summary>
public sealed class LanguageReward(float coefficient = 0.1f) : IRewardFunction
{
    public string Name => "language";

    public float Coefficient => coefficient;

    public float Score(string response)
    {
        if (response.Length == 0) return 0f;
        int ideographs = 0;
        foreach (char c in response)
            if (c is >= '\u4e00' and <= '\u9fff') ideographs++;
        // Share of UTF-16 code units, as MAYE measures len(text) in Python code points (equal for this range).
        return -coefficient * ideographs / response.Length;
    }

    public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
        Task.FromResult(batch.Select(input => Score(input.Response)).ToArray());
}

namespace Ril.Rewards;

/// <summary>Something that says how likely a response is to be the student's own rather than a teacher's (RIL's D_φ).</summary>
public interface IResponseDiscriminator
{
    /// <summary>D(q, o) ∈ (0, 1) per input, in input order: the probability that the response was written by the student.</summary>
    float[] StudentProbability(IReadOnlyList<RewardInput> batch);
}

/// <summary>How D's probability becomes a similarity reward (docs/spec/RIL.md, "Reward for each of the 2G responses").</summary>
public enum SimilarityKind
{
    /// <summary>1[D &lt; 0.5]: 1 when the response looks like a teacher's, else 0 (D = 0.5 exactly is not a teacher). The paper's choice and the default.</summary>
    Binary,
    /// <summary>1 − D.</summary>
    Continuous,
    /// <summary>1 − D rounded to the nearest tenth: 0, 0.1, …, 1.</summary>
    Levels11,
    /// <summary>Three levels: 1 (D &lt; 0.25), 0.5 (0.25 ≤ D &lt; 0.75), 0 (D ≥ 0.75).</summary>
    Levels3,
}

/// <summary>
/// RIL's similarity reward: how teacher-like the discriminator finds each response. The paper's ablation found the
/// binary form best; the continuous and quantised forms are its other variants. The discriminator's probabilities of
/// the last scored batch are kept for the step's metrics, so D is run once per response.
/// </summary>
public sealed class SimilarityReward(IResponseDiscriminator discriminator, SimilarityKind kind = SimilarityKind.Binary) : IRewardFunction
{
    public string Name => "similarity";
    public SimilarityKind Kind { get; } = kind;

    /// <summary>D's probabilities for the last batch this reward scored, in its order.</summary>
    public float[] LastProbabilities { get; private set; } = [];

    /// <summary>The reward of one discriminator probability.</summary>
    public static float FromProbability(float d, SimilarityKind kind) => kind switch
    {
        SimilarityKind.Binary => d < 0.5f ? 1f : 0f,
        SimilarityKind.Continuous => 1f - d,
        SimilarityKind.Levels11 => MathF.Round((1f - d) * 10f, MidpointRounding.AwayFromZero) / 10f,
        SimilarityKind.Levels3 => d < 0.25f ? 1f : d < 0.75f ? 0.5f : 0f,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static SimilarityKind Parse(string name) => name switch
    {
        "binary" => SimilarityKind.Binary,
        "continuous" => SimilarityKind.Continuous,
        "11-level" or "levels11" => SimilarityKind.Levels11,
        "3-level" or "levels3" => SimilarityKind.Levels3,
        _ => throw new ArgumentException($"unknown similarity reward '{name}' (binary, continuous, 11-level, 3-level)"),
    };

    public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default)
    {
        var d = discriminator.StudentProbability(batch);
        if (d.Length != batch.Count) throw new InvalidOperationException($"the discriminator returned {d.Length} probabilities for {batch.Count} responses");
        LastProbabilities = d;
        return Task.FromResult(d.Select(p => FromProbability(p, Kind)).ToArray());
    }
}

namespace Ril.Models.Generation;

/// <summary>
/// How tokens are chosen, applied in transformers' order: repetition penalty → temperature → top-k → top-p.
/// Temperature ≤ 0 means greedy. RIL's rollouts: T 1.0, top-p 0.95, top-k 50, penalty 1.05.
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;
    /// <summary>0 keeps every token.</summary>
    public int TopK { get; init; }
    /// <summary>1 is off; above 1 discourages tokens already in the prompt or the response (CTRL's rule, as transformers).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>Token ids that end a response (kept as its last token; not part of its text).</summary>
    public IReadOnlyList<int> StopTokens { get; init; } = [];
    /// <summary>Strings that end a response (its text is cut before them); needs a detokenizer.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Also record the entropy of the model's full distribution at each sampled token (RL's π_old from the sampler).</summary>
    public bool RecordEntropy { get; init; }

    /// <summary>Below this temperature sampling is greedy (vLLM's rule): a softmax at 1e-30 is an argmax anyway.</summary>
    public const float GreedyBelow = 1e-5f;

    public bool Greedy => Temperature < GreedyBelow;

    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), $"temperature = {Temperature} must be a finite number ≥ 0 (0 is greedy)");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), $"top_p = {TopP} must be in (0, 1]");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), $"top_k = {TopK} must be ≥ 0");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), $"repetition_penalty = {RepetitionPenalty} must be > 0");
        if (MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), $"max_new_tokens = {MaxNewTokens} must be ≥ 1");
    }
}

/// <summary>One prompt (token ids with its image placeholders, and its images) and how many samples to draw from it.</summary>
/// <param name="Pixels">[images, C, H, W] for the prompt's image placeholders, or null.</param>
/// <param name="Seed">Sample i of this request draws from Rng(Seed + i): results do not depend on batching.</param>
public sealed record GenerationRequest(int[] PromptIds, int NumSamples = 1, ulong Seed = 0, PixelInputs? Pixels = null);

/// <summary>A sampled response: its token ids, the model's log-probability of each (before any sampling transform), and why it ended.</summary>
/// <param name="Entropies">The entropy of the model's distribution at each token, when <see cref="SamplingOptions.RecordEntropy"/> asked for it.</param>
public sealed record GeneratedSequence(int[] TokenIds, float[] LogProbs, string FinishReason, string? Text, float[]? Entropies = null)
{
    public const string Stop = "stop", Length = "length";
}

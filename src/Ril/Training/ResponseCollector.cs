using Ril.Models;
using Ril.Models.Generation;

namespace Ril.Training;

/// <summary>One response in a group: whose it is, its tokens and text, and why it ended.</summary>
/// <param name="Question">Index of its question in the step's batch.</param>
/// <param name="Source">"student", or the name of the teacher that wrote it (RIL).</param>
public sealed record Rollout(int Question, string Source, int[] Tokens, string Text, string FinishReason)
{
    public const string Student = "student";
    /// <summary>The sampler's log-probability and entropy of the model at each token, when it recorded them (`trainer.old_logprobs: sampler`).</summary>
    public float[]? SamplerLogProbs { get; init; }
    public float[]? SamplerEntropies { get; init; }
    public bool IsTeacher => Source != Student;
}

/// <summary>Step 2 of the pipeline: G responses per question from the current policy (π_old), sampled together.</summary>
public sealed class ResponseCollector(ChatModel policy, RlConfig config)
{
    readonly Generator _generator = new(policy.Model, ids => policy.Decode(ids), policy.PadId);

    public SamplingOptions Sampling => new()
    {
        Temperature = config.Temperature, TopP = config.TopP, TopK = config.TopK, RepetitionPenalty = config.RepetitionPenalty,
        MaxNewTokens = config.MaxResponseTokens, StopTokens = policy.StopTokens, RecordEntropy = config.OldLogProbsFromSampler,
    };

    /// <summary>
    /// Rollouts grouped by question, in question order; <paramref name="seed"/> makes the step reproducible. A question's
    /// samples draw from a stream fixed by the seed and its index in the global batch (<see cref="Question.BatchIndex"/>,
    /// else its position in <paramref name="questions"/>), so they do not depend on how processes share the batch.
    /// </summary>
    public List<Rollout> Collect(IReadOnlyList<Question> questions, ulong seed)
    {
        var requests = questions.Select((q, i) => new GenerationRequest(q.PromptIds, config.GroupSize, seed * 1_000_003UL + (ulong)(q.BatchIndex ?? i) * 1009UL, q.Pixels)).ToList();
        var results = _generator.Generate(requests, Sampling);
        var rollouts = new List<Rollout>();
        for (int q = 0; q < results.Count; q++)
            foreach (var s in results[q])
                rollouts.Add(new Rollout(q, Rollout.Student, s.TokenIds, s.Text ?? "", s.FinishReason)
                {
                    SamplerLogProbs = config.OldLogProbsFromSampler ? s.LogProbs : null,
                    SamplerEntropies = s.Entropies,
                });
        return rollouts;
    }
}

namespace Ril.Training;

/// <summary>Settings of an RL run (the recipe's `trainer`, `rollout` and `loss` sections). Defaults are tiny-scale.</summary>
public sealed record RlConfig
{
    public Objective Objective { get; init; } = Objective.DrGrpo;
    /// <summary>Questions per RL step (each gets <see cref="GroupSize"/> responses).</summary>
    public int QuestionsPerStep { get; init; } = 8;
    /// <summary>G: responses sampled per question.</summary>
    public int GroupSize { get; init; } = 4;
    /// <summary>L: the most response tokens; dr_grpo and ril divide by B·L.</summary>
    public int MaxResponseTokens { get; init; } = 64;

    // Sampling (RIL: T 1.0, top-p 0.95, top-k 50, repetition penalty 1.05).
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;
    public int TopK { get; init; }
    public float RepetitionPenalty { get; init; } = 1f;

    // Loss (docs/spec/LOSSES.md).
    public float ClipLow { get; init; } = 0.2f;
    public float ClipHigh { get; init; } = 0.2f;
    /// <summary>β of the k3 KL to the frozen reference; 0 skips the reference entirely.</summary>
    public float KlCoef { get; init; }
    /// <summary>µ: passes over each batch (ppo epochs).</summary>
    public int PpoEpochs { get; init; } = 1;
    /// <summary>Responses per optimizer step; the batch is split into mini-batches of this size.</summary>
    public int MiniBatchSize { get; init; } = 32;
    /// <summary>Responses per forward/backward; gradients accumulate over a mini-batch's micro-batches.</summary>
    public int MicroBatchSize { get; init; } = 8;
    /// <summary>Drop groups whose rewards are all equal (their advantage is zero); their share is logged either way.</summary>
    public bool FilterZeroVarianceGroups { get; init; }
    /// <summary>Pack the rows of the log-prob and update forwards end to end (<see cref="ResponseLogProbs"/>): the same log-probs, fewer padded positions.</summary>
    public bool Pack { get; init; }
    /// <summary>
    /// Each question's prompt computed once in the log-prob and update forwards (`trainer.share_prompt`), its responses
    /// laid after it and attending to it (<see cref="ResponseLogProbs.Layout.SharedPrompts"/>): the same log-probs, with
    /// G − 1 fewer copies of every prompt. Packs; the update's micro-batches take each mini-batch's rows in question order.
    /// Models with linear-attention layers (Qwen3.5) refuse it.
    /// </summary>
    public bool SharePrompt { get; init; }
    /// <summary>
    /// π_old of the student's own responses taken from the sampler (`trainer.old_logprobs: sampler`) instead of a second
    /// forward over them: the same policy scored the same tokens while sampling, so only rounding differs (KV-cached decoding
    /// against a full forward). Teacher rows, and π_ref, are still computed.
    /// </summary>
    public bool OldLogProbsFromSampler { get; init; }
    /// <summary>Responses that hit the length limit: mask them out of the loss instead of training on them.</summary>
    public bool MaskTruncated { get; init; }

    // Optimizer.
    public float LearningRate { get; init; } = 1e-4f;
    public float WeightDecay { get; init; }
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float AdamEps { get; init; } = 1e-8f;
    /// <summary>Global gradient-norm clip; 0 measures without clipping.</summary>
    public float GradClip { get; init; } = 1f;
    /// <summary>Steps with a non-finite loss or gradient in a row before the run stops.</summary>
    public int MaxBadSteps { get; init; } = 3;

    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        ConfigKey.Require(QuestionsPerStep > 0, "trainer.questions_per_step", "must be positive");
        ConfigKey.Require(GroupSize > 0, "rollout.group_size", "must be positive");
        ConfigKey.Require(MaxResponseTokens > 0, "rollout.max_response_tokens", "must be positive");
        ConfigKey.Require(ClipLow >= 0 && ClipLow < 1 && ClipHigh >= 0, "loss.clip", "needs 0 ≤ ε_low < 1 and ε_high ≥ 0");
        ConfigKey.Require(KlCoef >= 0, "loss.kl_coef", "must be ≥ 0");
        ConfigKey.Require(PpoEpochs > 0, "trainer.ppo_epochs", "must be positive");
        ConfigKey.Require(MicroBatchSize > 0 && MiniBatchSize >= MicroBatchSize && MiniBatchSize % MicroBatchSize == 0,
            "trainer.mini_batch_size", $"({MiniBatchSize}) must be a positive multiple of trainer.micro_batch_size ({MicroBatchSize})");
        ConfigKey.Require(LearningRate > 0, "trainer.lr", "must be positive");
    }
}

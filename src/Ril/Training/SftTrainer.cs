using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>One supervised example: a question's prompt (and pixels) and the response to imitate, end token included.</summary>
public sealed record SftExample(int[] PromptIds, PixelInputs? Pixels, int[] Response);

/// <summary>
/// Supervised fine-tuning on gold solutions or teacher responses: next-token cross-entropy on response tokens only
/// (the prompt is context, not target), averaged over the batch's response tokens. Uses the same response
/// log-probs as the RL update. With <paramref name="pack"/>, short examples share rows of the forward (each attending to
/// itself alone): the same loss, fewer padded positions computed.
/// </summary>
public sealed class SftTrainer(ChatModel policy, Optimizer optimizer, float gradClip = 1f, LrSchedule? schedule = null, bool pack = false)
{
    public Optimizer Optimizer { get; } = optimizer;

    /// <summary>The example's response tokens: the text, then the end of the assistant turn.</summary>
    public static int[] ResponseTokens(ChatModel policy, string text) =>
        [.. policy.Tokenizer.Encode(text), .. policy.StopTokens.Take(1)];

    /// <summary>One optimizer step on a batch; returns the mean response-token loss.</summary>
    public float Step(IReadOnlyList<SftExample> batch)
    {
        using var scope = TensorScope.Begin();
        var loss = Loss(batch);
        loss.Backward();
        schedule?.Apply(Optimizer, Optimizer.StepCount);
        float norm = GradClip.ClipByGlobalNorm(Optimizer.AllParameters, gradClip);
        float value = loss.Item();
        if (float.IsFinite(value) && float.IsFinite(norm)) Optimizer.Step();
        Optimizer.ZeroGrad();
        return value;
    }

    /// <summary>The batch's loss: −mean log p of its response tokens.</summary>
    public Tensor Loss(IReadOnlyList<SftExample> batch)
    {
        int maxLen = batch.Max(e => e.Response.Length);
        var mask = new float[batch.Count * maxLen];
        for (int i = 0; i < batch.Count; i++)
            for (int t = 0; t < batch[i].Response.Length; t++) mask[i * maxLen + t] = 1f;
        var rows = batch.Select(e => new ResponseLogProbs.Row(e.PromptIds, e.Pixels, e.Response)).ToList();
        var logp = ResponseLogProbs.Compute(policy, rows, maxLen, pack: pack).LogProbs;
        return Ops.MulScalar(Ops.SumAll(Ops.Mul(logp, Tensor.FromArray(mask, mask.Length))), -1f / mask.Sum());   // −mean log p(response)
    }
}

using Ril.Data;
using Ril.Models;
using Ril.Text;
using Ril.Tensors;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>One supervised example: a question's prompt (and pixels) and the response to imitate, end token included.</summary>
public sealed record SftExample(int[] PromptIds, PixelInputs? Pixels, int[] Response)
{
    /// <summary>Which response tokens are trained (a conversation's assistant turns); null: all of them.</summary>
    public bool[]? Trained { get; init; }
    /// <summary>The response holds images too (later user turns of a conversation).</summary>
    public bool ImagesInResponse { get; init; }
}

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

    /// <summary>
    /// A conversation row (<see cref="DatasetRow.Messages"/>) as one example, rendered whole through the model's chat
    /// template: the prompt is the conversation up to the first assistant turn's opening, the response all that follows,
    /// and only the assistant turns' tokens are trained: each turn's content through its end-of-turn token, as the
    /// template writes them after the opening it writes for a generation (docs/spec/DATASETS.md §4). Turns after the last
    /// assistant turn are left out. Images go with the model when it takes them; otherwise their markers are dropped.
    /// </summary>
    public static SftExample Conversation(ChatModel policy, DatasetRow row)
    {
        const string marker = ChatTemplate.DefaultImageMarker;
        var images = policy.AcceptsImages ? row.LoadImages() : [];
        var messages = row.Messages ?? throw row.Error("messages", "not a conversation row");
        if (images.Count == 0) messages = messages.Select(m => m with { Content = m.Content.Replace(marker, "", StringComparison.Ordinal) }).ToList();
        int last = messages.Select(m => m.Role).ToList().LastIndexOf("assistant");
        if (last < 0) throw row.Error("messages", "no assistant turn: SFT trains on the assistant's turns");
        int first = messages.Select(m => m.Role).ToList().IndexOf("assistant");
        messages = messages.Take(last + 1).ToList();

        int[] Encode(int count, bool opening)
        {
            var part = messages.Take(count).ToList();
            int imagesIn = part.Sum(m => m.Content.Split(marker).Length - 1);
            try { return policy.Processor.ExpandImages(policy.Processor.EncodeChat(part, opening), images.Take(imagesIn).ToList()); }
            catch (ArgumentException e) { throw row.Error("messages", e.Message, e); }
        }
        var whole = Encode(messages.Count, opening: false);
        bool[] trained = new bool[whole.Length];
        int promptLength = -1;
        for (int i = first; i <= last; i++)
        {
            if (messages[i].Role != "assistant") continue;
            int[] before = Encode(i, opening: true), through = Encode(i + 1, opening: false);
            if (!StartsWith(whole, through) || !StartsWith(through, before))
                throw row.Error($"messages[{i}]", "the chat template does not render this conversation's turns one after another (a turn's rendering changes once later turns follow), so the assistant's tokens cannot be told apart");
            if (promptLength < 0) promptLength = before.Length;
            int end = through.Length;
            // The turn ends at its end-of-turn token; what a template writes after it (ChatML's newline) is context.
            for (int t = before.Length; t < through.Length; t++)
                if (policy.StopTokens.Contains(through[t])) { end = t + 1; break; }
            for (int t = before.Length; t < end; t++) trained[t] = true;
        }
        return new SftExample(whole[..promptLength], policy.Pixels(images), whole[promptLength..])
        {
            Trained = trained[promptLength..], ImagesInResponse = images.Count > 0,
        };
    }

    static bool StartsWith(int[] ids, int[] prefix) => prefix.Length <= ids.Length && ids.AsSpan(0, prefix.Length).SequenceEqual(prefix);

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

    /// <summary>The batch's loss: −mean log p of its trained response tokens (docs/spec/DATASETS.md §4).</summary>
    public Tensor Loss(IReadOnlyList<SftExample> batch)
    {
        int maxLen = batch.Max(e => e.Response.Length);
        var mask = new float[batch.Count * maxLen];
        for (int i = 0; i < batch.Count; i++)
            for (int t = 0; t < batch[i].Response.Length; t++) mask[i * maxLen + t] = batch[i].Trained is { } trained && !trained[t] ? 0f : 1f;
        var rows = batch.Select(e => new ResponseLogProbs.Row(e.PromptIds, e.Pixels, e.Response) { ImagesInResponse = e.ImagesInResponse }).ToList();
        var logp = ResponseLogProbs.Compute(policy, rows, maxLen, pack: pack).LogProbs;
        return Ops.MulScalar(Ops.SumAll(Ops.Mul(logp, Tensor.FromArray(mask, mask.Length))), -1f / mask.Sum());   // −mean log p(trained tokens), docs/spec/DATASETS.md §4
    }
}

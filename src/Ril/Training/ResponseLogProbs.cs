using Ril.Tensors;

namespace Ril.Training;

/// <summary>
/// Log-probabilities of response tokens under a model: prompts left-padded, responses right-padded to L, one forward
/// over [prompt + response], the LM head applied only at the L positions that predict response tokens.
/// Used with no grad for π_old and π_ref (trajectory step) and with grad in the policy update.
/// </summary>
public static class ResponseLogProbs
{
    /// <summary>Rows of one forward: each question's prompt and pixels with one response, padded to the longest of the forward.</summary>
    public sealed record Row(int[] PromptIds, Tensor? Pixels, int[] Response);

    /// <summary>Log-probs [rows·L] (positions past a response's end hold the log-prob of the pad token; mask them), and, on request, the entropy of each position's full distribution.</summary>
    public static (Tensor LogProbs, float[]? Entropy) Compute(Policy policy, IReadOnlyList<Row> rows, int maxLen, bool withEntropy = false)
    {
        var lm = policy.Model.Text;
        int b = rows.Count, p = rows.Max(r => r.PromptIds.Length), t = p + maxLen, pad = policy.PadId;
        var ids = new int[b * t];
        var positions = new int[b * t];
        var valid = new bool[b * t];
        var gather = new int[b * maxLen];
        var imageSlots = new List<int>();   // placeholders of the prompts only: one inside a response is just a token
        var targets = new int[b * maxLen];
        for (int i = 0; i < b; i++)
        {
            var prompt = rows[i].PromptIds;
            var response = rows[i].Response;
            int left = p - prompt.Length;
            for (int j = 0; j < t; j++)
            {
                int at = i * t + j;
                bool inPrompt = j >= left && j < p, inResponse = j >= p && j - p < response.Length;
                ids[at] = inPrompt ? prompt[j - left] : inResponse ? response[j - p] : pad;
                positions[at] = Math.Max(0, j - left);
                valid[at] = inPrompt || inResponse;
                if (inPrompt && ids[at] == policy.Model.ImageTokenId) imageSlots.Add(at);
            }
            for (int k = 0; k < maxLen; k++)
            {
                gather[i * maxLen + k] = i * t + p - 1 + k;                 // the position whose logits predict response token k
                targets[i * maxLen + k] = k < response.Length ? response[k] : pad;
            }
        }
        var pixels = rows.Where(r => r.Pixels is not null).Select(r => r.Pixels!).ToList();
        var features = pixels.Count == 0 ? null : policy.Model.ImageFeatures(pixels.Count == 1 ? pixels[0] : Ops.Concat(pixels, 0));
        var hidden = lm.Forward(policy.Model.Embed(ids, b, features, imageSlots), positions, new AttentionMask(true, valid));
        var logits = lm.Head(Ops.Embedding(Ops.Reshape(hidden, b * t, lm.Config.HiddenSize), gather));
        float[]? entropy = null;
        if (withEntropy)
            using (Tensors.Autograd.NoGrad.Begin()) entropy = Ops.Entropy(logits).ToArray();
        return (Ops.SelectedLogProbs(logits, targets), entropy);
    }
}

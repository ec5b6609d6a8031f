using Ril.Tensors;

namespace Ril.Training;

/// <summary>
/// Log-probabilities of response tokens under a model: one forward over every row's [prompt + response], the LM head
/// applied only at the positions that predict response tokens. Used with no grad for π_old and π_ref (trajectory step)
/// and with grad in the policy update and SFT.
/// <para>Two layouts give the same log-probs. Padded: one row each, prompts left-padded and responses right-padded to
/// the longest. Packed: several rows' sequences laid end to end in one row of the forward, each attending only to itself
/// with positions restarting at 0, the rows no longer than the longest sequence, so a batch of short sequences beside a
/// long one costs fewer padded positions.</para>
/// </summary>
public static class ResponseLogProbs
{
    /// <summary>Rows of one forward: each question's prompt and pixels with one response.</summary>
    public sealed record Row(int[] PromptIds, Tensor? Pixels, int[] Response);

    /// <summary>
    /// Log-probs [rows·L] of each row's response tokens, then positions past a response's end (their values are not
    /// log-probs of anything: mask them), and, on request, the entropy of each position's full distribution.
    /// </summary>
    public static (Tensor LogProbs, float[]? Entropy) Compute(Policy policy, IReadOnlyList<Row> rows, int maxLen, bool withEntropy = false, bool pack = false)
    {
        var layout = pack ? Layout.Packed(policy, rows, maxLen) : Layout.Padded(policy, rows, maxLen);
        var lm = policy.Model.Text;
        var pixels = layout.ImageRows.Select(i => rows[i].Pixels!).ToList();
        var features = pixels.Count == 0 ? null : policy.Model.ImageFeatures(pixels.Count == 1 ? pixels[0] : Ops.Concat(pixels, 0));
        var mask = new AttentionMask(true, layout.Valid, Segments: layout.Segments);
        var hidden = lm.Forward(policy.Model.Embed(layout.Ids, layout.Rows, features, layout.ImageSlots), layout.Positions, mask);
        var logits = lm.Head(Ops.Embedding(Ops.Reshape(hidden, layout.Ids.Length, lm.Config.HiddenSize), layout.Gather));
        float[]? entropy = null;
        if (withEntropy)
            using (Tensors.Autograd.NoGrad.Begin()) entropy = Ops.Entropy(logits).ToArray();
        return (Ops.SelectedLogProbs(logits, layout.Targets), entropy);
    }

    /// <summary>
    /// The forward's input: <see cref="Rows"/> rows of ids [Rows·T] with their positions, valid flags and (packed) sequence
    /// numbers; the image placeholders of the prompts in position order, with the input rows whose pixels fill them in the
    /// same order; and for each input row's L response slots, the position whose logits predict it and its token.
    /// </summary>
    internal sealed record Layout(int Rows, int[] Ids, int[] Positions, bool[] Valid, int[]? Segments, List<int> ImageSlots, List<int> ImageRows, int[] Gather, int[] Targets)
    {
        /// <summary>One row per input row: prompts left-padded to the longest, responses right-padded to L.</summary>
        public static Layout Padded(Policy policy, IReadOnlyList<Row> rows, int maxLen)
        {
            int b = rows.Count, p = rows.Max(r => r.PromptIds.Length), t = p + maxLen;
            var layout = Empty(policy, b, t, rows.Count, maxLen, packed: false);
            for (int i = 0; i < b; i++)
            {
                int left = p - rows[i].PromptIds.Length;
                layout.Place(policy, rows[i], i, i * t + left, maxLen);
                // The right padding: positions count on, and a slot past the response's end reads the logits of the
                // padding position where it would be.
                for (int j = p + rows[i].Response.Length; j < t; j++) layout.Positions[i * t + j] = j - left;
                for (int k = rows[i].Response.Length; k < maxLen; k++) layout.Gather[i * maxLen + k] = i * t + p - 1 + k;
            }
            return layout;
        }

        /// <summary>
        /// Input rows packed first-fit by decreasing length into rows as long as the longest [prompt + response]: so no row
        /// is longer than a padded one would be (attention never costs more) and there are as few as the lengths allow.
        /// </summary>
        public static Layout Packed(Policy policy, IReadOnlyList<Row> rows, int maxLen)
        {
            int Length(int i) => rows[i].PromptIds.Length + rows[i].Response.Length;
            int capacity = Enumerable.Range(0, rows.Count).Max(Length);
            var fill = new List<int>();                      // tokens used in each packed row
            var where = new (int Row, int Start)[rows.Count];
            foreach (int i in Enumerable.Range(0, rows.Count).OrderByDescending(Length).ThenBy(i => i))
            {
                int r = fill.FindIndex(used => used + Length(i) <= capacity);
                if (r < 0) { r = fill.Count; fill.Add(0); }
                where[i] = (r, fill[r]);
                fill[r] += Length(i);
            }
            int t = fill.Max();
            var layout = Empty(policy, fill.Count, t, rows.Count, maxLen, packed: true);
            // In position order, so that the image placeholders and the pixels filling them come in the same order.
            foreach (int i in Enumerable.Range(0, rows.Count).OrderBy(i => where[i].Row).ThenBy(i => where[i].Start))
                layout.Place(policy, rows[i], i, where[i].Row * t + where[i].Start, maxLen);
            return layout;
        }

        static Layout Empty(Policy policy, int forwardRows, int t, int inputRows, int maxLen, bool packed)
        {
            var ids = new int[forwardRows * t];
            Array.Fill(ids, policy.PadId);
            int[]? segments = packed ? new int[forwardRows * t] : null;
            if (segments is not null) Array.Fill(segments, -1);
            return new Layout(forwardRows, ids, new int[forwardRows * t], new bool[forwardRows * t], segments, [], [],
                new int[inputRows * maxLen], new int[inputRows * maxLen]);
        }

        /// <summary>Input row <paramref name="i"/>'s prompt and response from flat position <paramref name="at"/> on, the prompt's first token at position 0 of the sequence.</summary>
        void Place(Policy policy, Row row, int i, int at, int maxLen)
        {
            var prompt = row.PromptIds;
            var response = row.Response;
            if (response.Length > maxLen) throw new ArgumentException($"ResponseLogProbs: a response of {response.Length} tokens does not fit the {maxLen} slots asked for");
            int length = prompt.Length + response.Length;
            for (int j = 0; j < length; j++)
            {
                Ids[at + j] = j < prompt.Length ? prompt[j] : response[j - prompt.Length];
                Positions[at + j] = j;
                Valid[at + j] = true;
                if (Segments is not null) Segments[at + j] = i;
                // placeholders of the prompt only: one inside a response is just a token
                if (j < prompt.Length && prompt[j] == policy.Model.ImageTokenId) ImageSlots.Add(at + j);
            }
            if (row.Pixels is not null) ImageRows.Add(i);
            for (int k = 0; k < maxLen; k++)
            {
                // The position whose logits predict response token k; past the response's end, its last token's (masked).
                Gather[i * maxLen + k] = at + prompt.Length - 1 + Math.Min(k, response.Length);
                Targets[i * maxLen + k] = k < response.Length ? response[k] : policy.PadId;
            }
        }
    }
}

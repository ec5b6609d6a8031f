using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;

namespace Ril.Training;

/// <summary>
/// Log-probabilities of response tokens under a model: one forward over every row's [prompt + response], the LM head
/// applied only at the positions that predict response tokens. Used with no grad for π_old and π_ref (trajectory step)
/// and with grad in the policy update and SFT.
/// <para>Three layouts give the same log-probs. Padded: one row each, prompts left-padded and responses right-padded to
/// the longest. Packed: several rows' sequences laid end to end in one row of the forward, each attending only to itself
/// with positions restarting at 0, the rows no longer than the longest sequence, so a batch of short sequences beside a
/// long one costs fewer padded positions. Shared prompts: packed, and the rows of one question (one prompt, G responses)
/// laid as the prompt once followed by each response, so the prompt is computed once instead of G times.</para>
/// </summary>
public static class ResponseLogProbs
{
    /// <summary>Rows of one forward: each question's prompt and pixels with one response.</summary>
    public sealed record Row(int[] PromptIds, PixelInputs? Pixels, int[] Response)
    {
        /// <summary>
        /// The response's image placeholders are images too (an SFT conversation whose later user turns hold images);
        /// otherwise a placeholder id inside a response is text the model wrote.
        /// </summary>
        public bool ImagesInResponse { get; init; }
    }

    /// <summary>
    /// Log-probs [rows·L] of each row's response tokens, then positions past a response's end (their values are not
    /// log-probs of anything: mask them), and, on request, the entropy of each position's full distribution.
    /// </summary>
    public static (Tensor LogProbs, float[]? Entropy) Compute(ChatModel policy, IReadOnlyList<Row> rows, int maxLen, bool withEntropy = false, bool pack = false,
        bool sharePrompt = false)
    {
        var layout = Layout.Of(policy, rows, maxLen, pack, sharePrompt);
        var model = policy.Model;
        var inputs = layout.Inputs;
        var hidden = model.Hidden(inputs);
        var logits = model.Head(Ops.Embedding(Ops.Reshape(hidden, inputs.Ids.Length, model.HiddenSize), layout.Gather));
        float[]? entropy = null;
        if (withEntropy)
            using (Tensors.Autograd.NoGrad.Begin()) entropy = Ops.Entropy(logits).ToArray();
        return (Ops.SelectedLogProbs(logits, layout.Targets), entropy);
    }

    /// <summary>
    /// The forward's <see cref="ModelInputs"/> (built by its one builder) and, for each input row's L response slots, the
    /// position whose logits predict it and its token.
    /// </summary>
    public sealed record Layout(ModelInputs Inputs, int[] Gather, int[] Targets)
    {
        /// <summary>The layout a run asks for: shared prompts (which pack), packed, or padded.</summary>
        public static Layout Of(ChatModel policy, IReadOnlyList<Row> rows, int maxLen, bool pack, bool sharePrompt) =>
            sharePrompt ? SharedPrompts(policy, rows, maxLen) : pack ? Packed(policy, rows, maxLen) : Padded(policy, rows, maxLen);

        /// <summary>One row per input row: prompts left-padded to the longest, responses right-padded to L.</summary>
        public static Layout Padded(ChatModel policy, IReadOnlyList<Row> rows, int maxLen)
        {
            int b = rows.Count, p = rows.Max(r => r.PromptIds.Length), t = p + maxLen;
            var (builder, gather, targets) = Start(policy, b, t, rows.Count, maxLen, packed: false);
            for (int i = 0; i < b; i++)
            {
                int left = p - rows[i].PromptIds.Length, end = p + rows[i].Response.Length;
                Place(builder, gather, targets, policy, rows[i], i, i * t + left, maxLen);
                // The right padding: positions count on, and a slot past the response's end reads the logits of the
                // padding position where it would be.
                builder.ContinuePositions(i * t + end, t - end);
                for (int k = rows[i].Response.Length; k < maxLen; k++) gather[i * maxLen + k] = i * t + p - 1 + k;
            }
            return new Layout(builder.Build(), gather, targets);
        }

        /// <summary>
        /// Input rows packed first-fit by decreasing length into rows as long as the longest [prompt + response]: so no row
        /// is longer than a padded one would be (attention never costs more) and there are as few as the lengths allow.
        /// </summary>
        public static Layout Packed(ChatModel policy, IReadOnlyList<Row> rows, int maxLen)
        {
            var (fill, where) = PackPlan(Lengths(rows));
            int t = fill.Max();
            var (builder, gather, targets) = Start(policy, fill.Count, t, rows.Count, maxLen, packed: true);
            // In position order, so that the image placeholders and the pixels filling them come in the same order.
            foreach (int i in Enumerable.Range(0, rows.Count).OrderBy(i => where[i].Row).ThenBy(i => where[i].Start))
                Place(builder, gather, targets, policy, rows[i], i, where[i].Row * t + where[i].Start, maxLen);
            return new Layout(builder.Build(), gather, targets);
        }

        /// <summary>
        /// Rows sharing a prompt (the same ids and pixels, and no images in the responses: one question's group) laid as the
        /// prompt once, then each response attending to it and to itself with the positions it would have after its own
        /// copy; the groups packed first-fit like <see cref="Packed"/>. The log-probs are the other layouts': the prompt's
        /// states do not depend on what follows it (causal attention), and the first response token of every row reads the
        /// logits of the prompt's last position.
        /// </summary>
        public static Layout SharedPrompts(ChatModel policy, IReadOnlyList<Row> rows, int maxLen)
        {
            var groups = PromptGroups(rows);
            var (fill, where) = PackPlan(groups.Select(g => GroupLength(rows, g)).ToArray());
            int t = fill.Max();
            var (builder, gather, targets) = Start(policy, fill.Count, t, rows.Count, maxLen, packed: true, sharedPrompts: true);
            foreach (int gi in Enumerable.Range(0, groups.Count).OrderBy(g => where[g].Row).ThenBy(g => where[g].Start))
            {
                var group = groups[gi];
                int at = where[gi].Row * t + where[gi].Start;
                if (group.Length == 1) { Place(builder, gather, targets, policy, rows[group[0]], group[0], at, maxLen); continue; }
                var first = rows[group[0]];
                int promptSegment = rows.Count + gi, promptLast = at + first.PromptIds.Length - 1;
                builder.Place(at, first.PromptIds, first.PromptIds.Length, first.Pixels, promptSegment);
                at += first.PromptIds.Length;
                foreach (int i in group)
                {
                    var response = Checked(rows[i].Response, maxLen);
                    builder.PlaceContinuation(at, first.PromptIds, response, first.Pixels, segment: i, promptSegment);
                    for (int k = 0; k < maxLen; k++)
                    {
                        // Token k is predicted by the one before it: the prompt's last for k = 0; past the end, the last token's (masked).
                        int before = Math.Min(k, response.Length);
                        gather[i * maxLen + k] = before == 0 ? promptLast : at + before - 1;
                        targets[i * maxLen + k] = k < response.Length ? response[k] : policy.PadId;
                    }
                    at += response.Length;
                }
            }
            return new Layout(builder.Build(), gather, targets);
        }

        /// <summary>Whether <paramref name="model"/> can lay shared prompts: every layer attends (no linear-attention layer's recurrent state).</summary>
        public static bool CanSharePrompts(ICausalLM model) =>
            (model as DecoderLM ?? (model as DecoderBackedModel)?.Text)?.Layers.All(l => l.LinearAttention is null) ?? true;

        /// <summary>The rows in groups that share their prompt, each group in row order, groups in order of their first row.</summary>
        static List<int[]> PromptGroups(IReadOnlyList<Row> rows)
        {
            var groups = new List<List<int>>();
            for (int i = 0; i < rows.Count; i++)
            {
                var g = rows[i].ImagesInResponse ? null : groups.Find(g => Shares(rows[g[0]], rows[i]));
                if (g is null) groups.Add([i]); else g.Add(i);
            }
            return groups.Select(g => g.ToArray()).ToList();

            static bool Shares(Row a, Row b) => !a.ImagesInResponse && ReferenceEquals(a.Pixels, b.Pixels) && a.PromptIds.AsSpan().SequenceEqual(b.PromptIds);
        }

        static int GroupLength(IReadOnlyList<Row> rows, int[] group) => rows[group[0]].PromptIds.Length + group.Sum(i => rows[i].Response.Length);

        static int[] Lengths(IReadOnlyList<Row> rows) => rows.Select(r => r.PromptIds.Length + r.Response.Length).ToArray();

        /// <summary>First-fit by decreasing length: the tokens used in each packed row, and where each sequence starts.</summary>
        static (List<int> Fill, (int Row, int Start)[] Where) PackPlan(int[] lengths)
        {
            int capacity = lengths.Max();
            var fill = new List<int>();
            var where = new (int Row, int Start)[lengths.Length];
            foreach (int i in Enumerable.Range(0, lengths.Length).OrderByDescending(i => lengths[i]).ThenBy(i => i))
            {
                int r = fill.FindIndex(used => used + lengths[i] <= capacity);
                if (r < 0) { r = fill.Count; fill.Add(0); }
                where[i] = (r, fill[r]);
                fill[r] += lengths[i];
            }
            return (fill, where);
        }

        /// <summary>
        /// The positions a forward over <paramref name="rows"/> computes in each layout (padded rows × (longest prompt + L),
        /// or packed rows × the fullest), and of those the tokens of prompts and responses (a shared prompt once).
        /// </summary>
        public static (long Forward, long Tokens) Positions(IReadOnlyList<Row> rows, int maxLen, bool pack, bool sharePrompt = false)
        {
            var lengths = sharePrompt ? PromptGroups(rows).Select(g => GroupLength(rows, g)).ToArray() : Lengths(rows);
            if (!pack && !sharePrompt) return ((long)rows.Count * (rows.Max(r => r.PromptIds.Length) + maxLen), lengths.Sum(x => (long)x));
            var fill = PackPlan(lengths).Fill;
            return ((long)fill.Count * fill.Max(), lengths.Sum(x => (long)x));
        }

        static (ModelInputs.Builder, int[] Gather, int[] Targets) Start(ChatModel policy, int forwardRows, int t, int inputRows, int maxLen, bool packed,
            bool sharedPrompts = false) =>
            (new ModelInputs.Builder(policy.Model, forwardRows, t, policy.PadId, packed, sharedPrompts), new int[inputRows * maxLen], new int[inputRows * maxLen]);

        static int[] Checked(int[] response, int maxLen) => response.Length <= maxLen ? response
            : throw new ArgumentException($"ResponseLogProbs: a response of {response.Length} tokens does not fit the {maxLen} slots asked for");

        /// <summary>Input row <paramref name="i"/>'s prompt and response from flat position <paramref name="at"/> on, the prompt's first token at position 0 of the sequence.</summary>
        static void Place(ModelInputs.Builder builder, int[] gather, int[] targets, ChatModel policy, Row row, int i, int at, int maxLen)
        {
            var prompt = row.PromptIds;
            var response = Checked(row.Response, maxLen);
            builder.Place(at, [.. prompt, .. response], row.ImagesInResponse ? prompt.Length + response.Length : prompt.Length, row.Pixels, segment: i);
            for (int k = 0; k < maxLen; k++)
            {
                // The position whose logits predict response token k; past the response's end, its last token's (masked).
                gather[i * maxLen + k] = at + prompt.Length - 1 + Math.Min(k, response.Length);
                targets[i * maxLen + k] = k < response.Length ? response[k] : policy.PadId;
            }
        }
    }
}

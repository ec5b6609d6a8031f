using Ril.Tensors;

namespace Ril.Models;

/// <summary>
/// A language model whose LM head is replaced by a linear d→1 head ("score.weight", as transformers' sequence
/// classification models) read at each row's last non-padding token. RIL's discriminator and reward models use it;
/// D = sigmoid(score).
/// </summary>
public sealed class ScalarHeadModel
{
    public ICausalLM Backbone { get; }
    public Tensor Score { get; }

    public ScalarHeadModel(ICausalLM backbone, Rng rng, float std = 0.02f)
    {
        Backbone = backbone;
        Score = Tensor.Randn(rng, std, 1, backbone.HiddenSize).AsParameter("score.weight");
    }

    /// <summary>Everything but the unused LM head.</summary>
    public IEnumerable<Tensor> Parameters() =>
        Backbone.Parameters().Where(p => !ReferenceEquals(p, Backbone.UntiedHead)).Append(Score);

    /// <summary>
    /// Scores (logits) [B] of token rows, each read at the row's last token: the rows right-padded, or, with
    /// <paramref name="sharePrefix"/>, their longest common prefix (all but the shortest row's last token at most) laid
    /// once at the start of each forward row and the rows' rests after it, each attending to the prefix and to itself at
    /// the positions it would have after its own copy (<see cref="ModelInputs.Builder.PlaceContinuation"/>). A prompt that
    /// every row starts with (the discriminator's system turn) is then computed once per forward row, not once per row;
    /// causal attention keeps the prefix's states independent of what follows, so the scores are the padded layout's up
    /// to rounding. Forward rows hold about four times the longest row's positions at most (attention grows with the
    /// square of a row's length), balanced between them. The model must attend in every layer (a linear-attention
    /// layer's state would not carry from the prefix to each rest).
    /// </summary>
    public Tensor Forward(IReadOnlyList<int[]> rows, int padId, bool sharePrefix)
    {
        int batch = rows.Count, prefix = sharePrefix ? CommonPrefix(rows) : 0;
        if (prefix == 0)
        {
            int t = rows.Max(r => r.Length);
            var ids = new int[batch * t];
            for (int i = 0; i < batch; i++) rows[i].CopyTo(ids, i * t);
            return Forward(ids, batch, rows.Select(r => r.Length).ToArray(), padId);
        }
        // Forward rows: as few as hold the prefix and the rests within four times the longest row, the rests dealt to them
        // longest first, each to the emptiest, so that no forward row is padded far past the others.
        int capacity = 4 * rows.Max(r => r.Length), count = 1, fill = prefix;
        for (int i = 0; i < batch; i++)
        {
            int rest = rows[i].Length - prefix;
            if (fill > prefix && fill + rest > capacity) { count++; fill = prefix; }
            fill += rest;
        }
        var plan = Enumerable.Range(0, count).Select(_ => new List<int>()).ToList();
        var load = new int[count];
        foreach (int i in Enumerable.Range(0, batch).OrderByDescending(i => rows[i].Length).ThenBy(i => i))
        {
            int emptiest = Array.IndexOf(load, load.Min());
            plan[emptiest].Add(i);
            load[emptiest] += rows[i].Length - prefix;
        }
        int length = plan.Max(p => prefix + p.Sum(i => rows[i].Length - prefix)), d = Backbone.HiddenSize;
        var builder = new ModelInputs.Builder(Backbone, plan.Count, length, padId, sharedPrompts: true);
        var read = new int[batch];
        var shared = rows[0].AsSpan(0, prefix);
        for (int r = 0; r < plan.Count; r++)
        {
            int at = r * length, prefixSegment = batch + r;
            builder.Place(at, shared, prefix, null, prefixSegment);
            at += prefix;
            foreach (int i in plan[r])
            {
                builder.PlaceContinuation(at, shared, rows[i].AsSpan(prefix), null, segment: i, prefixSegment);
                at += rows[i].Length - prefix;
                read[i] = at - 1;
            }
        }
        var hidden = Ops.Reshape(Backbone.Hidden(builder.Build()), plan.Count * length, d);
        return Ops.Reshape(Ops.Linear(Ops.Embedding(hidden, read), Score), batch);   // gather each row's last token
    }

    /// <summary>The length of the prefix all <paramref name="rows"/> share, leaving every row one token of its own; 0 for one row.</summary>
    public static int CommonPrefix(IReadOnlyList<int[]> rows)
    {
        if (rows.Count < 2) return 0;
        int n = rows.Min(r => r.Length) - 1;
        for (int i = 1; i < rows.Count && n > 0; i++)
            n = Math.Min(n, rows[0].AsSpan(0, n).CommonPrefixLength(rows[i].AsSpan(0, n)));
        return Math.Max(n, 0);
    }

    /// <summary>
    /// Scores (logits) [B] for right-padded ids [B·T]: row b's score is read at position lengths[b] − 1.
    /// Padding keys are masked, so padding never changes a score.
    /// </summary>
    public Tensor Forward(int[] ids, int batch, int[] lengths, int padId = 0)
    {
        int t = ids.Length / batch, d = Backbone.HiddenSize;
        if (lengths.Length != batch || lengths.Any(l => l < 1 || l > t))
            throw new ArgumentException($"ScalarHeadModel: lengths [{string.Join(", ", lengths)}] must be {batch} values in [1, {t}]");
        var builder = new ModelInputs.Builder(Backbone, batch, t, padId);
        for (int b = 0; b < batch; b++) builder.Place(b * t, ids.AsSpan(b * t, lengths[b]), 0, null);
        var hidden = Ops.Reshape(Backbone.Hidden(builder.Build()), batch * t, d);
        var last = Ops.Embedding(hidden, Enumerable.Range(0, batch).Select(b => b * t + lengths[b] - 1).ToArray());   // gather rows
        return Ops.Reshape(Ops.Linear(last, Score), batch);
    }
}

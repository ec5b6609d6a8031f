using Ril.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Models.Generation;

/// <summary>Chooses the next token from one row of logits under <see cref="SamplingOptions"/>.</summary>
public static class TokenSampler
{
    /// <summary>
    /// Returns the chosen token. <paramref name="logits"/> is used as scratch (penalised and scaled in place);
    /// <paramref name="seen"/> are the tokens the repetition penalty applies to.
    /// </summary>
    public static int Next(Span<float> logits, SamplingOptions o, IReadOnlyCollection<int> seen, Rng rng)
    {
        if (o.RepetitionPenalty != 1f)
            foreach (var t in seen)   // logit < 0 → logit·p, else logit/p  (Keskar et al., as transformers)
                logits[t] = logits[t] < 0 ? logits[t] * o.RepetitionPenalty : logits[t] / o.RepetitionPenalty;
        if (o.Greedy) return TP.IndexOfMax(logits);
        if (o.Temperature != 1f) TP.Multiply(logits, 1f / o.Temperature, logits);

        var order = Candidates(logits, o.TopK);
        int keep = order.Length;
        float max = logits[order[0]];
        var probs = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++) total += probs[i] = Math.Exp(logits[order[i]] - max);
        // top-p: the smallest prefix whose mass reaches p (the token that crosses p is kept, as transformers)
        int cut = keep;
        if (o.TopP < 1f)
        {
            double acc = 0;
            for (int i = 0; i < keep; i++)
            {
                acc += probs[i] / total;
                if (acc >= o.TopP) { cut = i + 1; break; }
            }
        }
        double mass = 0;
        for (int i = 0; i < cut; i++) mass += probs[i];
        double u = rng.NextDouble() * mass;
        for (int i = 0; i < cut; i++)
        {
            u -= probs[i];
            if (u < 0) return order[i];
        }
        return order[cut - 1];
    }

    /// <summary>Gap below the best logit past which a token is left out: its probability is under e^−40 ≈ 4e−18 of the best.</summary>
    const float NegligibleLogitGap = 40f;

    /// <summary>Token ids in descending order of logit: the top k (k &gt; 0), else every token that is not negligible.</summary>
    static int[] Candidates(ReadOnlySpan<float> logits, int topK)
    {
        float floor = TP.Max(logits) - NegligibleLogitGap;
        var ids = new List<int>();
        if (topK > 0 && topK < logits.Length)
        {
            var heap = new PriorityQueue<int, float>(topK + 1);   // min-heap of the best k so far
            for (int i = 0; i < logits.Length; i++)
            {
                if (heap.Count < topK) heap.Enqueue(i, logits[i]);
                else if (logits[i] > logits[heap.Peek()]) heap.EnqueueDequeue(i, logits[i]);
            }
            while (heap.Count > 0) ids.Add(heap.Dequeue());
        }
        else
            for (int i = 0; i < logits.Length; i++) if (logits[i] >= floor) ids.Add(i);
        var arr = ids.ToArray();
        var keys = new float[arr.Length];
        for (int i = 0; i < arr.Length; i++) keys[i] = -logits[arr[i]];
        Array.Sort(keys, arr);
        return arr;
    }
}

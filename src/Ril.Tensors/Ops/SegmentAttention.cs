namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Non-causal attention within runs of equal <paramref name="segments"/> numbers ([N], one per position of q/k/v
    /// [1, N, H, D]): the images of a vision tower, or Qwen2.5-VL's windows once permuted into runs. The same result as
    /// <see cref="Attention"/> with <see cref="AttentionMask.Segments"/>, computed run by run, so the cost and the
    /// probabilities kept for backward are Σ nᵢ² instead of N². Numbers that come back after another run (not contiguous)
    /// fall back to the masked form.
    /// </summary>
    public static Tensor SegmentAttention(Tensor q, Tensor k, Tensor v, int[] segments)
    {
        int n = q.Shape[1];
        if (q.Rank != 4 || q.Shape[0] != 1 || segments.Length != n || k.Shape[1] != n)
            throw new ArgumentException($"SegmentAttention: q {ShapeOf.Format(q.Shape)}, k {ShapeOf.Format(k.Shape)} must be [1, N, H, D] with N = {segments.Length} segment numbers");
        var runs = new List<(int Start, int Length)>();
        var seen = new HashSet<int>();
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && segments[end] == segments[start]) end++;
            if (!seen.Add(segments[start])) return Attention(q, k, v, new AttentionMask(Causal: false, Segments: segments));
            runs.Add((start, end - start));
            start = end;
        }
        var whole = new AttentionMask(Causal: false);
        if (runs.Count == 1) return Attention(q, k, v, whole);
        return Concat(runs.Select(r => Attention(Slice(q, 1, r.Start, r.Length), Slice(k, 1, r.Start, r.Length), Slice(v, 1, r.Start, r.Length), whole)).ToList(), 1);
    }
}

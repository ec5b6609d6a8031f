using Ril.Models.Families.Llama;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>
/// Multimodal RoPE, shared by Qwen2-VL, Qwen2.5-VL and Qwen3-VL (docs/spec/QWEN2_VL.md §7.2–7.3, docs/spec/QWEN3_VL.md §7):
/// three position planes (time, height, width) from get_rope_index, and each rotary frequency reading one plane —
/// contiguous sections (Qwen2/2.5-VL) or interleaved t, h, w (Qwen3-VL).
/// </summary>
public static class MultimodalRope
{
    /// <summary>
    /// get_rope_index for one sequence: text counts on from the next free position on all three planes; the k-th image (a
    /// run of placeholders right after the vision-start token) puts merged token (bh, bw) at (s, s + bh, s + bw) and the
    /// text after it resumes at s + max(lh, lw). Positions [3·n], plane-major.
    /// </summary>
    public static int[] Positions(ReadOnlySpan<int> ids, PixelInputs? images, int imageTokenId, int visionStartTokenId, int mergeSize, string family)
    {
        int n = ids.Length, next = 0, image = 0, m = mergeSize;
        var grids = images?.Grids ?? [];
        var positions = new int[3 * n];
        for (int i = 0; i < n;)
        {
            if (ids[i] == imageTokenId && i > 0 && ids[i - 1] == visionStartTokenId && image < grids.Count)
            {
                var g = grids[image++];
                int lh = g[1] / m, lw = g[2] / m, tokens = g[0] * lh * lw;
                if (i + tokens > n) throw new ArgumentException($"{family}: image {image} needs {tokens} placeholder tokens, the sequence has {n - i} left");
                for (int t = 0; t < g[0]; t++)
                    for (int bh = 0; bh < lh; bh++)
                        for (int bw = 0; bw < lw; bw++, i++)
                            (positions[i], positions[n + i], positions[2 * n + i]) = (next + t, next + bh, next + bw);
                next += Math.Max(g[0], Math.Max(lh, lw));
            }
            else
            {
                positions[i] = positions[n + i] = positions[2 * n + i] = next++;
                i++;
            }
        }
        return positions;
    }

    /// <summary>Qwen2/2.5-VL: frequency j reads plane t for j &lt; s0, h for the next s1, w for the last s2.</summary>
    public static int[] ContiguousPlanes(int[] section)
    {
        var plane = new int[section.Sum()];
        for (int j = 0, s = 0; s < 3; s++)
            for (int k = 0; k < section[s]; k++) plane[j++] = s;
        return plane;
    }

    /// <summary>Qwen3-VL: frequency j reads h when j mod 3 = 1 and j &lt; 3·s1, w when j mod 3 = 2 and j &lt; 3·s2, else t.</summary>
    public static int[] InterleavedPlanes(int[] section)
    {
        var plane = new int[section.Sum()];
        for (int j = 0; j < plane.Length; j++)
            plane[j] = j % 3 == 1 && j < 3 * section[1] ? 1 : j % 3 == 2 && j < 3 * section[2] ? 2 : 0;
        return plane;
    }

    /// <summary>The angles of <paramref name="count"/> tokens: frequency j of the head's d/2 turns by plane[j]'s position.</summary>
    public static RotaryTables Rotary(DecoderConfig text, int[] plane, int[] positions, int count)
    {
        int d = text.RotaryDim, half = d / 2;   // Qwen3.5 rotates the first quarter of each head only
        var inv = new float[half];
        for (int j = 0; j < half; j++) inv[j] = (float)(1.0 / Math.Pow(text.RopeTheta, 2.0 * j / d));
        var cos = new float[count * half];
        var sin = new float[count * half];
        for (int r = 0; r < count; r++)
            for (int j = 0; j < half; j++)
            {
                float angle = positions[plane[j] * count + r] * inv[j];   // float32, as transformers computes it
                cos[r * half + j] = MathF.Cos(angle);
                sin[r * half + j] = MathF.Sin(angle);
            }
        return new RotaryTables(cos, sin);
    }
}

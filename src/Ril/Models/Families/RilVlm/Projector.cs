using Ril.Tensors;

namespace Ril.Models.Families.RilVlm;

/// <summary>
/// Maps vision features into the LM's hidden size: optional pixel shuffle (each s×s block of neighbouring patches
/// becomes one token with s²·d channels, cutting the image tokens by s²), then linear → GELU → linear (LLaVA's
/// "multi_modal_projector.linear_1/linear_2").
/// </summary>
public sealed class Projector
{
    public int PixelShuffle { get; }
    public Tensor W1, B1, W2, B2;

    public Projector(int visionDim, int textDim, int pixelShuffle, Rng rng, string prefix = "multi_modal_projector.", float std = 0.02f)
    {
        if (pixelShuffle < 1) throw new ArgumentException($"Projector: pixel shuffle factor {pixelShuffle} must be ≥ 1");
        PixelShuffle = pixelShuffle;
        int inDim = visionDim * pixelShuffle * pixelShuffle;
        W1 = Tensor.Randn(rng, std, textDim, inDim).AsParameter(prefix + "linear_1.weight");
        B1 = Tensor.Zeros(textDim).AsParameter(prefix + "linear_1.bias");
        W2 = Tensor.Randn(rng, std, textDim, textDim).AsParameter(prefix + "linear_2.weight");
        B2 = Tensor.Zeros(textDim).AsParameter(prefix + "linear_2.bias");
    }

    public IEnumerable<Tensor> Parameters() => [W1, B1, W2, B2];

    /// <summary>Image tokens per image for a square grid of <paramref name="gridSize"/>² patches.</summary>
    public int TokensPerImage(int gridSize) => gridSize / PixelShuffle * (gridSize / PixelShuffle);

    /// <summary>features [B, g·g, d] → [B, tokens, textDim].</summary>
    public Tensor Forward(Tensor features)
    {
        return Ops.Linear(Ops.GeluExact(Ops.Linear(Shuffle(features, PixelShuffle), W1, B1)), W2, B2);
    }

    /// <summary>
    /// Idefics3's pixel shuffle: features [B, g·g, d] of a g×g grid → [B, (g/s)², s²·d], each s×s block of neighbours one
    /// token whose channels hold the block's rows in order, each row's patches in order.
    /// </summary>
    public static Tensor Shuffle(Tensor features, int s)
    {
        int b = features.Shape[0], n = features.Shape[1], d = features.Shape[2];
        int g = (int)Math.Round(Math.Sqrt(n));
        if (g * g != n || g % s != 0) throw new ArgumentException($"pixel shuffle: {n} patches are not a square grid divisible by the shuffle factor {s}");
        if (s == 1) return features;
        // [B, g/s, s, g/s, s, d] → [B, g/s, g/s, s, s, d]: neighbours side by side in the channels
        return Ops.Reshape(Ops.Permute(Ops.Reshape(features, b, g / s, s, g / s, s, d), 0, 1, 3, 2, 4, 5), b, n / (s * s), d * s * s);
    }
}

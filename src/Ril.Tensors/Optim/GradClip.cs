using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Optim;

public static class GradClip
{
    /// <summary>
    /// Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/> (torch.nn.utils.clip_grad_norm_,
    /// scale = maxNorm / (norm + 1e-6) when norm &gt; maxNorm). Returns the norm before clipping. maxNorm ≤ 0 only measures.
    /// </summary>
    public static float ClipByGlobalNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToList();
        double sq = 0;
        foreach (var g in grads) sq += TP.Dot(g.Data, g.Data);   // per-tensor dot in float, summed in double
        float norm = (float)Math.Sqrt(sq);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float scale = maxNorm / (norm + 1e-6f);
            foreach (var g in grads) TP.Multiply(g.Data, scale, g.Data);
        }
        return norm;
    }
}

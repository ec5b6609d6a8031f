namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>
    /// LoRA's update of a linear layer's output (Hu et al. 2021, eq. 3: h = W₀x + (α/r)·B·A·x): scaling · (x·Aᵀ)·Bᵀ for
    /// x [..., in], A [r, in], B [out, r]; two thin products, never the [out, in] matrix B·A.
    /// </summary>
    public static Tensor LowRank(Tensor x, Tensor a, Tensor b, float scaling) => MulScalar(Linear(Linear(x, a), b), scaling);
}

using Ril.Tensors;

namespace Ril.Models;

/// <summary>Frozen weight matrices moved to bf16 storage: half their float32 memory, still computed in float32.</summary>
public static class FrozenWeights
{
    /// <summary>
    /// Stores every frozen matrix among <paramref name="parameters"/> (embeddings, projections, LM head: rank 2, no grad)
    /// in bf16; norms and biases, small, stay float32. Returns the bytes given back.
    /// </summary>
    public static long StoreInBf16(IEnumerable<Tensor> parameters)
    {
        long saved = 0;
        foreach (var p in parameters.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>())
            if (p.Rank == 2 && !p.RequiresGrad && !p.IsBf16)
            {
                saved += p.StorageBytes / 2;
                p.FreezeToBf16();
            }
        return saved;
    }
}

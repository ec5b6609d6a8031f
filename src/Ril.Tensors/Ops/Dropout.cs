using System.Runtime.Intrinsics;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;

namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p). Identity when p = 0.
    /// The mask is a hash of one number drawn from <paramref name="rng"/> and the element's index, so it is made on every
    /// thread in vector registers, regenerated in backward instead of stored, and the same on any thread count.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, Rng rng)
    {
        if (p < 0 || p >= 1) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: p = {p} must be in [0, 1)");
        if (p == 0) return x;
        ulong seed = rng.NextUInt64();
        var y = Tensor.Empty((int[])x.Shape.Clone());
        DropoutApply(x.Data, y.Data, seed, p, accumulate: false);
        return Tape.Record(y, "Dropout", [x], o => DropoutApply(o.Grad!.Data, x.GradData(), seed, p, accumulate: true));
    }

    /// <summary>dst (+)= src · keep(i)/(1−p), keep(i) = [hash(seed, i) ≥ p·2²⁴] over 24 bits of a two-round 32-bit mix.</summary>
    static unsafe void DropoutApply(Span<float> source, Span<float> destination, ulong seed, float p, bool accumulate)
    {
        int n = source.Length;
        uint threshold = (uint)Math.Min(p * (1 << 24), 1 << 24), lo = (uint)seed, hi = (uint)(seed >> 32);
        float scale = 1f / (1f - p);
        fixed (float* s0 = source, d0 = destination)
        {
            nint src = (nint)s0, dst = (nint)d0;
            WorkerPool.Shared.ForRange(n, 1 << 15, (start, end) =>
            {
                float* s = (float*)src, d = (float*)dst;
                int i = start;
                if (Vector512.IsHardwareAccelerated)
                {
                    var ramp = Vector512<uint>.Indices;
                    for (; i + 16 <= end; i += 16)
                    {
                        var h = DropoutHash(Vector512.Create((uint)i) + ramp, lo, hi);
                        var factor = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(h >> 8, Vector512.Create(threshold)).AsSingle(), Vector512.Create(scale), Vector512<float>.Zero);
                        var y = Vector512.Load(s + i) * factor;
                        (accumulate ? Vector512.Load(d + i) + y : y).Store(d + i);
                    }
                }
                for (; i < end; i++)
                {
                    float y = s[i] * ((DropoutHash((uint)i, lo, hi) >> 8) >= threshold ? scale : 0f);
                    d[i] = accumulate ? d[i] + y : y;
                }
            });
        }
    }

    /// <summary>A 32-bit integer mix (shift-xor-multiply, two rounds keyed by the seed's halves): the dropout mask's bits.</summary>
    static uint DropoutHash(uint index, uint lo, uint hi) => Mix32(Mix32(index ^ lo) + hi);

    static Vector512<uint> DropoutHash(Vector512<uint> index, uint lo, uint hi) => Mix32(Mix32(index ^ Vector512.Create(lo)) + Vector512.Create(hi));

    static uint Mix32(uint x)
    {
        x ^= x >> 16; x *= 0x7feb352d;
        x ^= x >> 15; x *= 0x846ca68b;
        return x ^ (x >> 16);
    }

    static Vector512<uint> Mix32(Vector512<uint> x)
    {
        x ^= x >> 16; x *= Vector512.Create(0x7feb352du);
        x ^= x >> 15; x *= Vector512.Create(0x846ca68bu);
        return x ^ (x >> 16);
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ril.Tensors.Kernels;

/// <summary>
/// bfloat16 ("brain float"): the top 16 bits of an IEEE float32 — same exponent range, 8 bits of significand.
/// Encoding rounds to nearest, ties to even (as torch's <c>.to(torch.bfloat16)</c>); NaN stays NaN. Decoding is exact.
/// </summary>
public static class BFloat16
{
    /// <summary>The bf16 nearest to <paramref name="value"/> (round to nearest even).</summary>
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);   // keep it a quiet NaN
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>The float32 a bf16 stands for (exact).</summary>
    public static float ToFloat(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Rounds every value of <paramref name="src"/> to bf16.</summary>
    public static void Encode(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"BFloat16.Encode: {dst.Length} slots for {src.Length} values");
        for (int i = 0; i < src.Length; i++) dst[i] = FromFloat(src[i]);
    }

    /// <summary>Widens every bf16 of <paramref name="src"/> to float32: a 16-bit shift, sixteen at a time.</summary>
    public static unsafe void Decode(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"BFloat16.Decode: {dst.Length} slots for {src.Length} values");
        int i = 0;
        if (Avx512F.IsSupported)
            // Three instructions per sixteen values (zero-extend, shift, store).
            fixed (ushort* s = src)
            fixed (float* d = dst)
                for (; i + 16 <= src.Length; i += 16)
                    Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load(s + i)), 16).AsSingle().Store(d + i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 16 <= src.Length; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(src.Slice(i, 16)));
                Vector256.ShiftLeft(lo, 16).AsSingle().CopyTo(dst.Slice(i, 8));
                Vector256.ShiftLeft(hi, 16).AsSingle().CopyTo(dst.Slice(i + 8, 8));
            }
        for (; i < src.Length; i++) dst[i] = ToFloat(src[i]);
    }

    /// <summary>Scalar reference of <see cref="Decode"/>, for tests.</summary>
    internal static void DecodeReference(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = ToFloat(src[i]);
    }
}

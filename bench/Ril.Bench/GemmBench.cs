using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Ril.Tensors.Kernels;

namespace Ril.Bench;

/// <summary>
/// `ril-bench gemm`: single-precision matrix multiply throughput of <see cref="Gemm"/> against OpenBLAS (when the
/// library is present) on the shapes that matter to the models: square 64/256/1024, a transformer MLP projection
/// (128 tokens × 768 → 3072) and a decode-time matrix-vector product (1 × 768 → 768). C = A·B, all row-major.
/// Each figure is the best of rounds of ~30 ms after a warm-up, at least 0.3 s of timed work per implementation and
/// shape; the best rather than the mean because other processes may share the machine.
/// </summary>
public static unsafe class GemmBench
{
    static readonly (int M, int N, int K)[] Shapes = [(64, 64, 64), (256, 256, 256), (1024, 1024, 1024), (128, 3072, 768), (1, 768, 768)];

    public static void Run(string[] args)
    {
        int threads = WorkerPool.Shared.Threads;
        bool blas = OpenBlas.IsAvailable;
        string vector = Vector512.IsHardwareAccelerated ? "512" : Vector256.IsHardwareAccelerated ? "256" : "128";
        Console.WriteLine($"# threads={threads} vector={vector} openblas={(blas ? "yes" : "no")} coretype={(blas ? OpenBlas.CoreType ?? "auto" : "n/a")}");

        foreach (var (m, n, k) in Shapes)
        {
            float* a = Alloc((long)m * k), b = Alloc((long)k * n), c = Alloc((long)m * n);
            var rnd = new Random(1);
            for (long i = 0; i < (long)m * k; i++) a[i] = (float)(rnd.NextDouble() - 0.5);
            for (long i = 0; i < (long)k * n; i++) b[i] = (float)(rnd.NextDouble() - 0.5);

            void Ril() => Gemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            void Blas() => OpenBlas.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);

            double flops = 2.0 * m * n * k;
            // Calls per round: about 30 ms of work at ~150 GFLOP/s, at least one.
            int calls = (int)Math.Clamp(0.03 * 150e9 / flops, 1, 1_000_000);
            double bestRil = Best(Ril, calls, flops);
            double bestBlas = blas ? Best(Blas, calls, flops) : 0;
            string blasText = blas ? bestBlas.ToString("F1") : "n/a";
            Console.WriteLine($"gemm M={m} N={n} K={k} ril_gflops={bestRil:F1} openblas_gflops={blasText}");
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(c);
        }
    }

    /// <summary>Ril's best GFLOP/s on a 1024³ float32 product: the FMA ceiling a decoding step's products can approach.</summary>
    public static double PackedGflops()
    {
        const int n = 1024;
        float* a = Alloc((long)n * n), b = Alloc((long)n * n), c = Alloc((long)n * n);
        for (long i = 0; i < (long)n * n; i++) { a[i] = (i % 7) * 0.1f - 0.3f; b[i] = (i % 5) * 0.1f - 0.2f; }
        double best = Best(() => Gemm.Multiply(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n), 4, 2.0 * n * n * n);
        NativeMemory.AlignedFree(a);
        NativeMemory.AlignedFree(b);
        NativeMemory.AlignedFree(c);
        return best;
    }

    static float* Alloc(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);

    /// <summary>
    /// Best GFLOP/s over rounds of <paramref name="calls"/> calls: 0.5 s of warm-up, then at least 8 rounds and 0.3 s.
    /// Each implementation is timed on its own, after a pause: both keep idle threads spinning for a while after a
    /// call (ours 0.5 ms, OpenBLAS's much longer), which would steal the other's second core if rounds alternated.
    /// </summary>
    static double Best(Action f, int calls, double flops)
    {
        Thread.Sleep(300);
        // Enough calls for tiered compilation (with PGO, three tiers) to reach optimised code, and for buffers and
        // threads to be set up: 0.1 s left the first shape ~25% short.
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < 0.5) for (int i = 0; i < calls; i++) f();
        double best = 0, total = 0;
        for (int round = 0; round < 100 && (round < 8 || total < 0.3); round++)
        {
            double t = Time(f, calls);
            total += t;
            best = Math.Max(best, flops * calls / t / 1e9);
        }
        return best;
    }

    static double Time(Action f, int calls)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++) f();
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }
}

using System.Diagnostics;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;

namespace Ril.Bench;

/// <summary>
/// `Ril.Bench fewrows [--rows 1,8,32,64,96,128]`: products of a few rows x [m, k] with a weight W [n, k] (x·Wᵀ, every
/// Linear layer) at the shapes of a Qwen2-0.5B model (LM head 151936 × 896, MLP up 4864 × 896, MLP down 896 × 4864),
/// as decoding and rollouts run them: W in bf16 read in place, W in bf16 through the GEMM (the
/// path beyond Ops.MaxInPlaceBf16Rows), and W in float32. Enough copies of W are cycled to exceed the L3 cache, so W
/// comes from memory as it does in a model's forward. Prints the memory bandwidth of a plain parallel read first (the
/// roofline's denominator), then per shape and path the weight bytes read per second and GFLOP/s; best of rounds.
/// </summary>
public static class FewRowsBench
{
    static readonly (string Name, int N, int K)[] Shapes = [("lm_head", 151936, 896), ("mlp_up", 4864, 896), ("mlp_down", 896, 4864)];

    public static void Run(string[] args)
    {
        var rows = args.SkipWhile(a => a != "--rows").Skip(1).Select(s => s.Split(',').Select(int.Parse).ToArray()).FirstOrDefault([1, 8, 32, 64, 96, 128]);
        Console.WriteLine($"# fewrows: threads={WorkerPool.Shared.Threads}; bandwidth of a parallel read of 1 GiB: {Bandwidth():F1} GB/s");
        var rng = new Rng(3);
        using var noGrad = NoGrad.Begin();
        foreach (var (name, n, k) in Shapes)
        {
            int copies = (int)Math.Clamp(256L * 1024 * 1024 / (2L * n * k), 1, 64);   // ≥ 256 MB of bf16 weights in all
            var bf16 = Enumerable.Range(0, copies).Select(_ => Tensor.Randn(rng, 0.02f, n, k).FreezeToBf16()).ToArray();
            var f32 = Enumerable.Range(0, copies).Select(c => Tensor.FromArray(bf16[c].ToArray(), n, k)).ToArray();
            foreach (int m in rows)
            {
                var x = Tensor.Randn(rng, 1f, m, k);
                double flops = 2.0 * m * n * k;
                string line = $"fewrows {name} n={n} k={k} rows={m}";
                int saved = Ops.MaxInPlaceBf16Rows;
                if (m <= Gemm.DotRowsMax) line += Report("bf16_in_place", Best(bf16, x), 2.0 * n * k, flops);
                Ops.MaxInPlaceBf16Rows = 0;
                try { line += Report("bf16_packed", Best(bf16, x), 2.0 * n * k, flops); }
                finally { Ops.MaxInPlaceBf16Rows = saved; }
                line += Report("f32", Best(f32, x), 4.0 * n * k, flops);
                Console.WriteLine(line);
            }
        }
    }

    static string Report(string path, double seconds, double bytes, double flops)
        => $" {path}_ms={seconds * 1e3:F2} {path}_gb_s={bytes / seconds / 1e9:F1} {path}_gflops={flops / seconds / 1e9:F1}";

    /// <summary>Best time of one product over rounds that cycle through the weight copies (≥ 8 rounds and 0.5 s, after a warm-up).</summary>
    static double Best(Tensor[] weights, Tensor x)
    {
        void Once(int i)
        {
            using var scope = TensorScope.Begin();
            Ops.MatMul(x, weights[i % weights.Length], transB: true);
        }
        for (int i = 0; i < weights.Length + 2; i++) Once(i);
        double best = double.MaxValue, total = 0;
        for (int round = 0; round < 400 && (round < 8 || total < 0.5); round++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Once(round);
            double t = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            total += t;
            best = Math.Min(best, t);
        }
        return best;
    }

    /// <summary>GB/s of reading 1 GiB on every thread of the pool (best of 5): what a step that reads its weights once can
    /// reach. Each thread sums its half as 32-bit integers, 64 bytes a load, prefetching 4 KiB ahead, as the one-row
    /// kernel reads its weights (summing floats with TensorPrimitives.Sum, used before, read less: docs/BENCHMARKS.md,
    /// "One stream of weights a thread").</summary>
    public static unsafe double Bandwidth()
    {
        var data = GC.AllocateUninitializedArray<uint>(1 << 28);
        data.AsSpan().Fill(1u);
        double best = 0;
        var partial = new uint[WorkerPool.Shared.Threads * 16];
        for (int rep = 0; rep < 5; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            WorkerPool.Shared.ForRange(data.Length, 1 << 20, (s, e) =>
            {
                var acc = System.Runtime.Intrinsics.Vector512<uint>.Zero;
                fixed (uint* p = data)
                    for (long i = s; i + 16 <= e; i += 16)
                    {
                        System.Runtime.Intrinsics.X86.Sse.Prefetch0((byte*)(p + i) + 4096);
                        acc += System.Runtime.Intrinsics.Vector512.Load(p + i);
                    }
                partial[(int)((long)s * partial.Length / data.Length)] = System.Runtime.Intrinsics.Vector512.Sum(acc);
            });
            best = Math.Max(best, 4.0 * data.Length / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
        }
        return best;
    }
}

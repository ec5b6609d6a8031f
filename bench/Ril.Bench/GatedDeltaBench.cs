using System.Diagnostics;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;

namespace Ril.Bench;

/// <summary>
/// The gated delta rule alone at Qwen3.5-0.8B's sizes (one Gated DeltaNet layer: Hk = Hv = 16, dk = dv = 128, chunk 64;
/// `--hv 32` for 9B's grouped value heads): the chunked forward, its backward with the chunk-start states kept and with
/// them recomputed, and the decoding step. `--t N` sets the sequence length (default 1024), `--batch B` (default 1).
/// Prints microseconds per token (per layer; best of 5, wall clock) and the bytes kept for the backward.
/// </summary>
public static class GatedDeltaBench
{
    public static void Run(string[] args)
    {
        int Arg(string name, int fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback; }
        int b = Arg("--batch", 1), t = Arg("--t", 1024), hk = 16, hv = Arg("--hv", 16), dk = 128, dv = 128;
        var rng = new Rng(1);
        Tensor[] x;
        using (NoGrad.Begin())
            x =
            [
                Ops.L2Normalize(Tensor.Randn(rng, 1, b, t, hk, dk)) * (1f / MathF.Sqrt(dk)),
                Ops.L2Normalize(Tensor.Randn(rng, 1, b, t, hk, dk)),
                Tensor.Randn(rng, 1, b, t, hv, dv),
                -Ops.Softplus(Tensor.Randn(rng, 1, b, t, hv)),
                Ops.Sigmoid(Tensor.Randn(rng, 1, b, t, hv)),
            ];
        foreach (var a in x) a.RequiresGrad = true;
        var w = Tensor.Randn(rng, 1, b, t, hv, dv);
        Console.WriteLine($"# gated delta rule: B {b}, T {t}, Hk {hk}, Hv {hv}, dk {dk}, dv {dv}, chunk 64, threads={WorkerPool.Shared.Threads}");
        double tokens = (double)b * t;
        foreach (bool recompute in new[] { false, true })
        {
            double forward = double.MaxValue, backward = double.MaxValue;
            long saved = 0;
            for (int rep = 0; rep < 6; rep++)   // the first is a warm-up (JIT, pools)
            {
                foreach (var a in x) a.Grad = null;
                var sw = Stopwatch.StartNew();
                var o = Ops.GatedDeltaRule(x[0], x[1], x[2], x[3], x[4], new GatedDeltaOptions { RecomputeStates = recompute });
                double f = sw.Elapsed.TotalMilliseconds;
                saved = Ops.GatedDeltaSavedBytes;
                var loss = Ops.SumAll(o * w);
                sw.Restart();
                loss.Backward();
                double bw = sw.Elapsed.TotalMilliseconds;
                if (rep > 0) { forward = Math.Min(forward, f); backward = Math.Min(backward, bw); }
            }
            Console.WriteLine($"gated_delta recompute={recompute} forward_us_per_token={1000 * forward / tokens:F1} backward_us_per_token={1000 * backward / tokens:F1} " +
                              $"saved_bytes_per_token_head={saved / (tokens * hv):F0}");
        }
        var state = Tensor.Zeros(b, hv, dk, dv);
        Tensor[] step;
        using (NoGrad.Begin())
            step = x.Select(a => Ops.Reshape(Ops.Slice(a, 1, 0, 1), [b, .. a.Shape[2..]])).ToArray();
        double best = double.MaxValue;
        using (NoGrad.Begin())
            for (int rep = 0; rep < 6; rep++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < 100; i++) Ops.GatedDeltaStep(state, step[0], step[1], step[2], step[3], step[4]);
                if (rep > 0) best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 10);   // µs per step
            }
        Console.WriteLine($"gated_delta_step batch={b} us_per_step={best:F1} state_bytes={state.Length * 4}");
    }
}

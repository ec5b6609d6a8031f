using System.Diagnostics;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Bench;

/// <summary>
/// One training step (forward, backward, AdamW) of a Llama-layout decoder: d_model 512, 8 layers, 8 heads, SwiGLU 1376,
/// vocab 8192, untied head, batch 8 × 256 tokens, next-token cross-entropy. bench/torch/step.py is the same model in PyTorch.
/// Usage: step [--steps N] (median over N timed steps after 3 warm-up steps; default 10; adamw_ms: the optimizer's step alone, median).
/// </summary>
public static class StepBench
{
    public static DecoderConfig Config => new()
    {
        VocabSize = 8192, HiddenSize = 512, IntermediateSize = 1376, NumLayers = 8, NumHeads = 8, NumKvHeadsField = 8,
        RmsNormEps = 1e-6f, RopeTheta = 10000f, TieWordEmbeddings = false,
    };

    public const int Batch = 8, SeqLen = 256;

    public static void Run(string[] args)
    {
        int steps = args.SkipWhile(a => a != "--steps").Skip(1).Select(int.Parse).FirstOrDefault(10);
        var rng = new Rng(0);
        var model = new DecoderLM(Config, rng);
        var parameters = model.Parameters().ToList();
        var opt = new AdamW(parameters, lr: 1e-4f, weightDecay: 0.01f);
        var ids = Enumerable.Range(0, Batch * SeqLen).Select(_ => rng.NextInt(Config.VocabSize)).ToArray();
        var targets = Enumerable.Range(0, Batch * SeqLen).Select(i => i % SeqLen == SeqLen - 1 ? -100 : ids[i + 1]).ToArray();
        long paramCount = parameters.Sum(p => (long)p.Length);
        Console.WriteLine($"# step: {paramCount / 1e6:F1}M parameters, batch {Batch}x{SeqLen}, threads={WorkerPool.Shared.Threads}, openblas={(OpenBlas.IsAvailable ? "yes" : "no")}");

        var optimizerMs = new List<double>();
        float Step()
        {
            using var scope = TensorScope.Begin();
            var loss = Ops.CrossEntropy(model.Logits(ids, Batch), targets);
            loss.Backward();
            var optimizer = Stopwatch.StartNew();
            opt.Step();
            optimizerMs.Add(optimizer.Elapsed.TotalMilliseconds);
            opt.ZeroGrad();
            return loss.Item();
        }

        for (int i = 0; i < 3; i++) Step();
        optimizerMs.Clear();
        var times = new List<double>();
        long rssAfterWarmup = ResidentMb();
        long allocBefore = GC.GetAllocatedBytesForCurrentThread(), poolBefore = BufferPool.Allocations;
        float loss = 0;
        for (int i = 0; i < steps; i++)
        {
            var sw = Stopwatch.StartNew();
            loss = Step();
            times.Add(sw.Elapsed.TotalMilliseconds);
            if ((i + 1) % 10 == 0) Console.WriteLine($"# step {i + 1}: {times[^1]:F0} ms, loss {loss:F4}, rss {ResidentMb()} MB, peak {PeakMb()} MB");
        }
        long managedPerStep = (GC.GetAllocatedBytesForCurrentThread() - allocBefore) / steps;
        times.Sort();
        optimizerMs.Sort();
        Console.WriteLine($"# rss after warm-up {rssAfterWarmup} MB, after {steps} steps {ResidentMb()} MB; managed allocation {managedPerStep / 1024} KiB/step; new tensor buffers {BufferPool.Allocations - poolBefore} after warm-up");
        Console.WriteLine($"step ril_ms={times[times.Count / 2]:F0} peak_mb={PeakMb()} adamw_ms={optimizerMs[optimizerMs.Count / 2]:F1}");
    }

    static long StatusKb(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":")) return long.Parse(line.Split(':')[1].Trim().Split(' ')[0]);
        return -1;
    }

    static long ResidentMb() => StatusKb("VmRSS") / 1024;
    static long PeakMb() => StatusKb("VmHWM") / 1024;
}

using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril quickstart`: the README's main job. Today it builds the built-in suite and trains a tiny byte-level decoder
/// on the gold solutions (supervised, next-byte cross-entropy), showing the engine learn end to end. The RL and RIL
/// stages join it as the training issues land.
/// </summary>
public static class QuickstartCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Run directory", DefaultValueFactory = _ => Path.Combine("runs", "quickstart") };
        var steps = new Option<int>("--steps") { Description = "Supervised steps of the tiny decoder", DefaultValueFactory = _ => 60 };
        var command = new Command("quickstart", "Build the built-in suite and train a tiny decoder on its gold solutions (the RL and RIL stages are not built yet).")
            { output, steps };
        command.SetAction(parse => ErrorReporting.Run(() => Run(parse.GetValue(output)!, parse.GetValue(steps))));
        return command;
    }

    static int Run(string runDir, int steps)
    {
        var dataDir = Path.Combine(runDir, "data");
        Console.WriteLine($"[1/2] built-in suite → {dataDir}");
        var summary = SuiteWriter.Write(dataDir, new SuiteOptions(Seed: 1, TrainRows: 1000, ValRows: 100, TestRows: 100));
        Console.WriteLine($"      {string.Join(", ", summary.RowsPerSplit.Select(kv => $"{kv.Key} {kv.Value}"))} rows in {summary.Elapsed.TotalSeconds:F1} s");

        var solutions = JsonlDataset.Read(Path.Combine(dataDir, "train.jsonl"), ImageMode.TextOnly)
            .Select(r => Encoding.UTF8.GetBytes(r.Question + "\n" + r.Solution)).ToList();
        const int batch = 8, seqLen = 128;
        var config = new DecoderConfig { VocabSize = 256, HiddenSize = 128, IntermediateSize = 344, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2 };
        var rng = new Rng(1);
        var model = new DecoderLM(config, rng);
        var opt = new AdamW(model.Parameters().ToList(), lr: 3e-3f, weightDecay: 0.0f, beta2: 0.95f);
        var schedule = new WarmupCosineLr(3e-3f, WarmupSteps: steps / 10, TotalSteps: steps, MinLr: 3e-4f);
        Console.WriteLine($"[2/2] tiny byte-level decoder ({model.Parameters().Sum(p => p.Length) / 1e3:F0}k parameters), {steps} steps of batch {batch}×{seqLen}");
        var sw = Stopwatch.StartNew();
        float first = 0, last = 0;
        for (int step = 0; step < steps; step++)
        {
            var (ids, targets) = Batch(solutions, batch, seqLen, rng);
            using var scope = TensorScope.Begin();
            var loss = Ops.CrossEntropy(model.Logits(ids, batch), targets);
            loss.Backward();
            GradClip.ClipByGlobalNorm(opt.AllParameters, 1f);
            schedule.Apply(opt, step);
            opt.Step();
            opt.ZeroGrad();
            last = loss.Item();
            if (step == 0) first = last;
            if (step % 10 == 0 || step == steps - 1) Console.WriteLine($"      step {step,4}  loss {last:F3}  ({sw.Elapsed.TotalSeconds:F1} s)");
        }
        Console.WriteLine($"next-byte loss {first:F3} → {last:F3} (uniform guess: {Math.Log(256):F3})");
        return last < first ? 0 : 1;
    }

    /// <summary>Random windows of the concatenated solutions; the target of each byte is the next one.</summary>
    static (int[] ids, int[] targets) Batch(List<byte[]> texts, int batch, int seqLen, Rng rng)
    {
        var ids = new int[batch * seqLen];
        var targets = new int[batch * seqLen];
        for (int b = 0; b < batch; b++)
        {
            var text = texts[rng.NextInt(texts.Count)];
            for (int t = 0; t < seqLen; t++)
            {
                ids[b * seqLen + t] = t < text.Length ? text[t] : 0;
                targets[b * seqLen + t] = t + 1 < text.Length ? text[t + 1] : -100;
            }
        }
        return (ids, targets);
    }
}

using System.Diagnostics;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.IO;
using Ril.Tensors.Kernels;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// `decode --model DIR [--batch B[,B…]] [--prompt-tokens P] [--new-tokens N] [--repeats R] [--roofline] [--float32]`: greedy decoding of
/// any model folder (as `ril generate` loads it), prefill apart: the clock starts when the first token of every row has
/// been sampled from the prompt's logits, and tokens/s counts the N − 1 tokens per row decoded after it. Prompts are
/// random ids, distinct per row; no stop token, so every row decodes N tokens. Prints, best of R (default 3),
/// `decode model=NAME batch=B ril_tok_s=… prefill_s=… load_s=… rss_mb=… weight_mb=…`, and with --roofline the memory
/// bandwidth of a plain parallel read and the tokens/s it allows when every step reads every weight once (the roofline),
/// and the FMA ceiling: the tokens/s the step's products allow at the packed GEMM's measured rate. The model is
/// loaded as `ril generate` loads it (BF16 matrices kept in bf16); --float32 widens them as a trainable load does.
/// </summary>
public static class DecodeModelBench
{
    public static void Run(string[] args)
    {
        string Text(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? throw new ArgumentException($"decode: {name} needs a value");
        int Option(string name, int fallback) => args.Contains(name) ? int.Parse(Text(name)) : fallback;
        var dir = Text("--model");
        var batches = args.Contains("--batch") ? Text("--batch").Split(',').Select(int.Parse).ToArray() : [1];
        int promptTokens = Option("--prompt-tokens", 32), newTokens = Option("--new-tokens", 32), repeats = Option("--repeats", 3);
        var clock = Stopwatch.StartNew();
        var chat = ChatModel.Load(dir, frozen: !args.Contains("--float32"));
        double loadSeconds = clock.Elapsed.TotalSeconds;
        long weightBytes = chat.Parameters().Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().Sum(p => p.StorageBytes);
        string name = Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));
        Console.WriteLine($"# decode {name}: load {loadSeconds:F1} s, rss {MemoryBreakdown.ResidentBytes() >> 20} MB, weights {weightBytes >> 20} MB " +
                          $"({(chat.Parameters().Any(p => p.IsBf16) ? "bf16 matrices" : "float32")}), threads={WorkerPool.Shared.Threads}");

        var rng = new Rng(11);
        var generator = new Generator(chat.Model, null, chat.PadId);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = newTokens };
        double bandwidth = args.Contains("--roofline") ? FewRowsBench.Bandwidth() : 0;
        double gemmGflops = args.Contains("--roofline") ? GemmBench.PackedGflops() : 0;
        // Multiply-adds per token: every matrix but an embedding table that only looks rows up (with a tied head it is the head).
        long macs = chat.Parameters().Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>()
            .Where(p => p.Shape.Length == 2 && !(chat.Model.UntiedHead is not null && p.Name?.EndsWith("embed_tokens.weight") == true)).Sum(p => (long)p.Length);
        foreach (int batch in batches)
        {
            var requests = Enumerable.Range(0, batch)
                .Select(_ => new GenerationRequest(Enumerable.Range(0, promptTokens).Select(_ => rng.NextInt(chat.Model.VocabSize)).ToArray())).ToList();
            double best = 0, bestPrefill = 0;
            for (int rep = 0; rep <= repeats; rep++)   // the first run warms up (JIT, pools) and is not counted
            {
                long start = Stopwatch.GetTimestamp(), firstToken = 0;
                int sampled = 0;
                var outputs = generator.Generate(requests, options, (_, _, _) => { if (++sampled == batch) firstToken = Stopwatch.GetTimestamp(); });
                double decodeSeconds = Stopwatch.GetElapsedTime(firstToken).TotalSeconds;
                int decoded = outputs.Sum(o => o[0].TokenIds.Length) - batch;
                if (rep == 0 || decoded <= 0) continue;
                if (decoded / decodeSeconds > best) (best, bestPrefill) = (decoded / decodeSeconds, Stopwatch.GetElapsedTime(start, firstToken).TotalSeconds);
            }
            string roofline = "";
            if (bandwidth > 0)
            {
                double ceiling = batch * bandwidth * 1e9 / weightBytes;
                double fmaCeiling = gemmGflops * 1e9 / (2.0 * macs);
                roofline = $" bandwidth_gb_s={bandwidth:F1} roofline_tok_s={ceiling:F0} of_roofline={best / ceiling:P0}" +
                           $" gemm_gflops={gemmGflops:F0} fma_ceiling_tok_s={fmaCeiling:F0} of_lower_ceiling={best / Math.Min(ceiling, fmaCeiling):P0}";
            }
            Console.WriteLine($"decode model={name} batch={batch} ril_tok_s={best:F1} prefill_s={bestPrefill:F2} load_s={loadSeconds:F1} rss_mb={MemoryBreakdown.ResidentBytes() >> 20} weight_mb={weightBytes >> 20}{roofline}");
        }
    }

    /// <summary>
    /// `qwen2-checkpoint --out DIR [--layers N]`: a model folder of Qwen2-0.5B's layout (its config.json; 24 layers by
    /// default) with random weights in BF16 and the test fixtures' tokenizer, for the decoding and loading figures.
    /// </summary>
    public static void WriteCheckpoint(string[] args)
    {
        var dir = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault() ?? throw new ArgumentException("qwen2-checkpoint: --out DIR is required");
        int layers = args.SkipWhile(a => a != "--layers").Skip(1).Select(int.Parse).FirstOrDefault(24);
        var model = new DecoderLM(LoraBench.Qwen2HalfB(layers), new Rng(5));
        Directory.CreateDirectory(dir);
        var entries = model.Parameters().Select(p => new SafeTensorEntry(p.Name!, p.Shape, p.ToArray())).ToList();
        SafeTensors.Write(Path.Combine(dir, "model.safetensors"), entries, new Dictionary<string, string> { ["format"] = "pt" }, bf16: true);
        File.WriteAllText(Path.Combine(dir, "config.json"), model.ConfigJson().ToJsonString());
        File.Copy(Path.Combine(LoraBench.RepositoryRoot(), "tests", "fixtures", "tokenizer", "trained", "tokenizer.json"), Path.Combine(dir, "tokenizer.json"), overwrite: true);
        Console.WriteLine($"# wrote {dir}: {model.Parameters().Sum(p => (long)p.Length) / 1e6:F0}M parameters in BF16, {layers} layers");
    }
}

using System.Diagnostics;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Kernels;

namespace Ril.Bench;

/// <summary>
/// Greedy decoding throughput with a KV cache: a ~27M-parameter Llama-layout LM (d 512, 6 layers, 8 heads, SwiGLU 1376,
/// vocab 8192, untied head), prompts of 32 tokens, 128 new tokens each, batch 1 and 16 (distinct prompts, so no prefix
/// sharing helps). bench/torch/decode.py runs the same model in eager PyTorch with a KV cache.
/// Prints `decode batch=B ril_tok_s=…` (generated tokens per second over the whole call, prefill included; best of 3).
/// </summary>
public static class DecodeBench
{
    public static readonly DecoderConfig Config = new()
    {
        VocabSize = 8192, HiddenSize = 512, IntermediateSize = 1376, NumLayers = 6, NumHeads = 8, NumKvHeadsField = 8, TieWordEmbeddings = false,
    };
    public const int PromptLength = 32, NewTokens = 128;

    public static void Run(string[] args)
    {
        if (args.Contains("--model")) { DecodeModelBench.Run(args); return; }
        var rng = new Rng(0);
        var model = new DecoderLM(Config, rng);
        long parameters = model.Parameters().Sum(p => (long)p.Length);
        Console.WriteLine($"# decode: {parameters / 1e6:F1}M parameters, prompt {PromptLength}, {NewTokens} new tokens, greedy, threads={WorkerPool.Shared.Threads}");
        var generator = new Generator(model);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = NewTokens };
        foreach (int batch in new[] { 1, 16 })
        {
            var requests = Enumerable.Range(0, batch)
                .Select(_ => new GenerationRequest(Enumerable.Range(0, PromptLength).Select(_ => rng.NextInt(Config.VocabSize)).ToArray())).ToList();
            generator.Generate(requests, options with { MaxNewTokens = 8 });   // warm-up (JIT, pools)
            double best = 0;
            for (int rep = 0; rep < 3; rep++)
            {
                var sw = Stopwatch.StartNew();
                var outputs = generator.Generate(requests, options);
                double tokens = outputs.Sum(o => o[0].TokenIds.Length);
                best = Math.Max(best, tokens / sw.Elapsed.TotalSeconds);
            }
            Console.WriteLine($"decode batch={batch} ril_tok_s={best:F0}");
        }
    }
}

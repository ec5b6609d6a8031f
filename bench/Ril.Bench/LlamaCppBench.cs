using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using Ril.Export;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Kernels;
using Ril.Text;

namespace Ril.Bench;

/// <summary>
/// The llama.cpp anchor: a model folder exported by `ril export gguf` (F32, F16 or BF16 GGUF of the same weights), run by
/// llama.cpp through LLamaSharp (CPU backend), greedy decoding timed apart from prefill. A batch of B is B sequences in
/// one llama_batch per step (sequence ids 0..B−1, one KV cache of B·(P+N) cells), as llama.cpp's own batched decoding runs.
/// Prints `decode model=NAME batch=B type=T llamacpp_tok_s=…` (best of --repeat), and with --check, whether llama.cpp's
/// tokenization of a text and its greedy continuation of a prompt equal Ril's on the model folder.
///
/// Usage:
///   llamacpp --model DIR [--batch 1,8,32] [--prompt-tokens 32] [--new-tokens 32] [--type f16,bf16] [--threads 2]
///            [--repeat 3] [--check] [--ril] [--gguf-dir DIR]
///   --ril adds Ril's own greedy decoding of the same prompts, its weights in bf16 (`decode model=NAME batch=B weights=bf16 ril_tok_s=…`).
///   llamacpp --make qwen2-0.5b|qwen2-tiny|llama-tiny|qwen3-tiny --out DIR
///     (a random checkpoint in bf16 safetensors with the test tokenizer: Qwen2-0.5B's real config, or a tiny Qwen2/Llama/Qwen3)
/// </summary>
public static class LlamaCppBench
{
    public static void Run(string[] args)
    {
        string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        if (Option("--make") is { } layout)
        {
            MakeModel(layout, Option("--out") ?? throw new ArgumentException("llamacpp --make: --out DIR is required"));
            return;
        }
        var dir = Option("--model") ?? throw new ArgumentException("llamacpp: --model DIR is required");
        int[] batches = (Option("--batch") ?? "1,8,32").Split(',').Select(int.Parse).ToArray();
        int promptTokens = int.Parse(Option("--prompt-tokens") ?? "32"), newTokens = int.Parse(Option("--new-tokens") ?? "32");
        int threads = int.Parse(Option("--threads") ?? "2"), repeat = int.Parse(Option("--repeat") ?? "1");
        var types = (Option("--type") ?? "f16,bf16").Split(',');
        var ggufDir = Option("--gguf-dir") ?? Path.Combine(Path.GetTempPath(), "ril-llamacpp-bench");
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));

        NativeLibraryConfig.All.WithLogCallback((level, message) => { if (level == LLamaLogLevel.Error) Console.Error.Write(message); });
        var load = Stopwatch.StartNew();
        ChatModel? chat = ChatModel.Load(dir);
        Console.WriteLine($"# llamacpp: model {name} ({chat.Model.DecoderParameters().Sum(p => (long)p.Length) / 1e6:F0}M parameters), prompt {promptTokens}, " +
                          $"{newTokens} new tokens, greedy, threads={threads}; Ril load {load.Elapsed.TotalSeconds:F1} s");
        int tokenizerIds = chat.Tokenizer.VocabSize;
        var paths = new Dictionary<string, string>();
        foreach (var type in types)
        {
            var tensorType = type switch { "f32" => GgufTensorType.F32, "f16" => GgufTensorType.F16, "bf16" => GgufTensorType.BF16, _ => throw new ArgumentException($"--type {type}: f32, f16 or bf16") };
            var export = Stopwatch.StartNew();
            var summary = GgufExport.Write(chat.Model, dir, paths[type] = Path.Combine(ggufDir, $"{name}-{type}.gguf"), tensorType);
            Console.WriteLine($"# exported {summary.Path}: {summary.Architecture}, {summary.Bytes / 1e6:F0} MB in {export.Elapsed.TotalSeconds:F1} s");
        }
        if (!args.Contains("--check") && !args.Contains("--ril"))
        {
            chat = null;   // llama.cpp alone from here: hand Ril's float32 copy back before timing
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
        foreach (var type in types)
        {
            var parameters = new ModelParams(paths[type]) { GpuLayerCount = 0, Threads = threads, BatchThreads = threads };
            using var weights = LLamaWeights.LoadFromFile(parameters);
            if (args.Contains("--check")) Check(chat!, weights, parameters, promptTokens, newTokens, type);
            foreach (int batch in batches)
            {
                double best = 0, prefill = 0;
                for (int rep = 0; rep < repeat; rep++)
                {
                    var rng = new Rng((ulong)(batch * 1000 + rep));
                    var prompts = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, promptTokens).Select(_ => rng.NextInt(tokenizerIds)).ToArray()).ToArray();
                    var (_, prefillSeconds, decodeSeconds) = Greedy(weights, parameters, prompts, newTokens);
                    double tokS = batch * (newTokens - 1) / decodeSeconds;   // the first token comes from the prefill's logits
                    if (tokS > best) (best, prefill) = (tokS, prefillSeconds);
                }
                Console.WriteLine($"decode model={name} batch={batch} type={type} llamacpp_tok_s={best:F1} prefill_s={prefill:F2}");
            }
        }
        if (!args.Contains("--ril")) return;
        // Ril side by side, loaded as `ril generate` and `decode --model` load it: frozen, its matrices kept in bf16 as the
        // checkpoint holds them. (Converting the trainable float32 copy loaded above would keep it float32: only frozen
        // weights are stored in bf16.)
        chat = null;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        chat = ChatModel.Load(dir, frozen: true);
        var generator = new Generator(chat.Model);
        foreach (int batch in batches)
        {
            double best = 0, prefill = 0;
            for (int rep = 0; rep < repeat; rep++)
            {
                var rng = new Rng((ulong)(batch * 1000 + rep));
                var requests = Enumerable.Range(0, batch).Select(_ => new GenerationRequest(Enumerable.Range(0, promptTokens).Select(_ => rng.NextInt(tokenizerIds)).ToArray())).ToList();
                double firstToken = 0;
                var sw = Stopwatch.StartNew();
                generator.Generate(requests, new SamplingOptions { Temperature = 0, MaxNewTokens = newTokens }, (_, _, _) => { if (firstToken == 0) firstToken = sw.Elapsed.TotalSeconds; });
                double tokS = batch * (newTokens - 1) / (sw.Elapsed.TotalSeconds - firstToken);
                if (tokS > best) (best, prefill) = (tokS, firstToken);
            }
            Console.WriteLine($"decode model={name} batch={batch} weights=bf16 ril_tok_s={best:F1} prefill_s={prefill:F2}");
        }
    }

    /// <summary>
    /// Greedy continuations of <paramref name="prompts"/> (one sequence each, decoded together): the prefill in one
    /// llama_decode, then one llama_decode of B tokens per step; the seconds of each part.
    /// </summary>
    static (int[][] Tokens, double Prefill, double Decode) Greedy(LLamaWeights weights, ModelParams parameters, int[][] prompts, int newTokens)
    {
        int batch = prompts.Length, promptTokens = prompts[0].Length;
        var contextParams = new ModelParams(parameters.ModelPath)
        {
            GpuLayerCount = 0, Threads = parameters.Threads, BatchThreads = parameters.BatchThreads, SeqMax = (uint)batch,
            ContextSize = (uint)(batch * (promptTokens + newTokens + 1)), BatchSize = (uint)(batch * promptTokens), UBatchSize = (uint)(batch * promptTokens),
        };
        using var context = weights.CreateContext(contextParams);
        var llamaBatch = new LLamaBatch();
        var outputs = prompts.Select(_ => new List<int>()).ToArray();
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < batch; s++)
            for (int i = 0; i < promptTokens; i++)
                llamaBatch.Add((LLamaToken)prompts[s][i], i, (LLamaSeqId)s, logits: i == promptTokens - 1);
        Decode(context, llamaBatch);
        double prefill = sw.Elapsed.TotalSeconds;
        for (int step = 0; step < newTokens; step++)
        {
            var next = new int[batch];
            for (int s = 0; s < batch; s++) next[s] = ArgMax(context.NativeHandle.GetLogitsIth(step == 0 ? (s + 1) * promptTokens - 1 : s));
            for (int s = 0; s < batch; s++) outputs[s].Add(next[s]);
            if (step == newTokens - 1) break;
            llamaBatch.Clear();
            for (int s = 0; s < batch; s++) llamaBatch.Add((LLamaToken)next[s], promptTokens + step, (LLamaSeqId)s, logits: true);
            Decode(context, llamaBatch);
        }
        return (outputs.Select(o => o.ToArray()).ToArray(), prefill, sw.Elapsed.TotalSeconds - prefill);
    }

    static void Decode(LLamaContext context, LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
    }

    static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>
    /// The independent check: llama.cpp reads Ril's GGUF with its own tokenizer and graph. Its tokens for a chat text
    /// (control tokens, words, digits, spaces, newlines) and its greedy continuation of a random prompt must be Ril's.
    /// </summary>
    static void Check(ChatModel chat, LLamaWeights weights, ModelParams parameters, int promptTokens, int newTokens, string type)
    {
        var text = chat.Tokenizer.Decode(chat.EncodeChat([ChatMessage.User("How many red circles are there? Count 1, 22, 333 and  two spaces.\nThen answer.")]));
        var ril = chat.Tokenizer.Encode(text);
        var llama = weights.Tokenize(text, add_bos: false, special: true, Encoding.UTF8).Select(t => (int)t).ToArray();
        Console.WriteLine($"check tokenize type={type} tokens={ril.Length} {(ril.SequenceEqual(llama) ? "equal" : $"DIFFER: ril [{string.Join(",", ril)}] llama.cpp [{string.Join(",", llama)}]")}");

        var rng = new Rng(123);
        var prompt = Enumerable.Range(0, promptTokens).Select(_ => rng.NextInt(chat.Tokenizer.VocabSize)).ToArray();
        var rilTokens = new Generator(chat.Model).Generate([new GenerationRequest(prompt)], new SamplingOptions { Temperature = 0, MaxNewTokens = newTokens })[0][0].TokenIds;
        var (llamaTokens, _, _) = Greedy(weights, parameters, [prompt, prompt], newTokens);   // two sequences: batched decoding too
        int agree = rilTokens.Zip(llamaTokens[0]).TakeWhile(p => p.First == p.Second).Count();
        Console.WriteLine($"check greedy type={type} new_tokens={newTokens} " +
                          (agree == newTokens && llamaTokens[1].SequenceEqual(llamaTokens[0]) ? "equal" : $"agree for {agree}: ril [{string.Join(",", rilTokens)}] llama.cpp [{string.Join(",", llamaTokens[0])}]"));
    }

    /// <summary>
    /// A checkpoint with random weights stored in bf16 as the Hub's are, and the test tokenizer: "qwen2-0.5b" has
    /// Qwen2-0.5B's config.json (494M parameters, tied head; the tokenizer's 500-odd ids, the rest of the 151,936 rows
    /// padding); "qwen2-tiny", "llama-tiny" and "qwen3-tiny" (head_dim 32 where hidden_size / heads is 16, q/k norms)
    /// are small decoders of those layouts, weights drawn wide enough that greedy
    /// choices are clear, for the check against Ril.
    /// </summary>
    static void MakeModel(string layout, string dir)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Ril.sln"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Ril.sln not found above the benchmark");
        var tokenizerPath = Path.Combine(root, "tests", "fixtures", "tokenizer", "trained", "tokenizer.json");
        var tiny = new DecoderConfig
        {
            VocabSize = BpeTokenizer.Load(tokenizerPath).VocabSize, HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2,
            MaxPositions = 512, RmsNormEps = 1e-6f, TieWordEmbeddings = false, AttentionBias = true,
        };
        var (config, std) = layout switch
        {
            "qwen2-0.5b" => (LoraBench.Qwen2HalfB(24) with { ModelType = "qwen2" }, 0.02f),
            "qwen2-tiny" => (tiny with { ModelType = "qwen2", RopeTheta = 1_000_000f }, 0.25f),
            "llama-tiny" => (tiny with { ModelType = "llama", RopeTheta = 500_000f, AttentionBias = false, TieWordEmbeddings = true }, 0.25f),
            "qwen3-tiny" => (tiny with { ModelType = "qwen3", RopeTheta = 1_000_000f, AttentionBias = false, TieWordEmbeddings = true, HeadDimField = 32 }, 0.25f),
            _ => throw new ArgumentException($"--make {layout}: qwen2-0.5b, qwen2-tiny, llama-tiny or qwen3-tiny"),
        };
        var model = new DecoderLM(config, new Rng(7), std);
        if (config.QkNorm)   // q/k norm weights away from 1, so that a norm llama.cpp skipped or misread would show
        {
            var rng = new Rng(8);
            foreach (var norm in model.Layers.SelectMany(b => new[] { b.QNorm!, b.KNorm! })) { rng.FillNormal(norm.Data, 0.3f); System.Numerics.Tensors.TensorPrimitives.Add(norm.Data, 1f, norm.Data); }
        }
        Directory.CreateDirectory(dir);
        WriteBf16SafeTensors(Path.Combine(dir, "model.safetensors"), model.Parameters().ToList());
        var json = model.ConfigJson();
        json["architectures"] = new System.Text.Json.Nodes.JsonArray(config.ModelType switch { "qwen2" => "Qwen2ForCausalLM", "qwen3" => "Qwen3ForCausalLM", _ => "LlamaForCausalLM" });
        json["torch_dtype"] = "bfloat16";
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Copy(tokenizerPath, Path.Combine(dir, "tokenizer.json"), overwrite: true);
        Console.WriteLine($"wrote {dir}: {layout}, {model.Parameters().Sum(p => (long)p.Length) / 1e6:F1}M parameters in bf16");
    }

    /// <summary>A safetensors file of BF16 tensors (Ril's writer writes F32 only): header JSON, then each tensor's bytes.</summary>
    static void WriteBf16SafeTensors(string path, IReadOnlyList<Tensor> tensors)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var t in tensors)
        {
            header[t.Name!] = new Dictionary<string, object> { ["dtype"] = "BF16", ["shape"] = t.Shape, ["data_offsets"] = new[] { offset, offset + 2L * t.Length } };
            offset += 2L * t.Length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
        stream.Write(length);
        stream.Write(headerBytes);
        foreach (var t in tensors)
        {
            var words = new ushort[t.Length];
            BFloat16.Encode(t.ToArray(), words);
            stream.Write(MemoryMarshal.AsBytes(words.AsSpan()));
        }
    }
}

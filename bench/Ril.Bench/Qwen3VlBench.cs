using System.Diagnostics;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Kernels;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// A Qwen3-VL-2B-Instruct-layout model (its config.json's sizes: D 2048, 28 layers, 16 / 8 heads of 128, SwiGLU 6144,
/// vocab 151936, tied; vision 1024 wide, 24 blocks, DeepStack taps 5 / 11 / 17, a 48 × 48 position table) with random
/// weights, the frozen weights in bf16. Each prompt is a user turn with one 256 × 256 image (the released min_pixels:
/// 64 image tokens) and a short question.
/// `qwen3vl decode`: greedy decoding tokens/s with a KV cache at batch 1 and 8 (distinct images), 32 new tokens,
/// prefill (vision tower included) counted; best of 2 after a warm-up.
/// `qwen3vl lora`: LoraBench's RIL-like step (rollouts, π_old / π_ref, the discriminator's reward and BCE step, a
/// Dr.GRPO update; LoRA r = 16 on every projection, D sharing the bf16 base) with these image prompts: its parts and
/// peak memory. Options as LoraBench's, plus --layers N (default 28, the real depth) for a smaller smoke run.
/// </summary>
public static class Qwen3VlBench
{
    public static void Run(string[] args)
    {
        var setup = Stopwatch.StartNew();
        int layers = LoraBench.Option(args, "--layers", 28);
        var tokenizer = LoraBench.TestTokenizer();
        int Id(string token) => tokenizer.SpecialTokenId(token);
        var config = Qwen3VlConfig.Parse(JsonNode.Parse($$"""
            {
              "model_type": "qwen3_vl", "image_token_id": {{Id("<|image_pad|>")}}, "vision_start_token_id": {{Id("<|vision_start|>")}},
              "vision_end_token_id": {{Id("<|vision_end|>")}}, "tie_word_embeddings": true,
              "text_config": {
                "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": {{layers}},
                "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6, "rope_theta": 5000000,
                "max_position_embeddings": 262144, "tie_word_embeddings": true,
                "rope_scaling": { "mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default" }
              },
              "vision_config": {
                "hidden_size": 1024, "intermediate_size": 4096, "depth": 24, "num_heads": 16, "out_hidden_size": 2048,
                "hidden_act": "gelu_pytorch_tanh", "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17]
              }
            }
            """)!.AsObject(), "Qwen3-VL-2B layout");
        var rng = new Rng(7);
        var model = new Qwen3VlModel(config, rng);
        var processor = new Qwen2VlProcessor(tokenizer, Qwen2VlImageProcessor.Qwen3VlDefaults, config.ImageTokenId, defaultSystemPrompt: null);
        var policy = new ChatModel(model, processor);
        foreach (var p in model.Vision.Parameters()) p.RequiresGrad = false;   // the tower stays frozen (LoRA trains the decoder's adapters)
        string label = $"Qwen3-VL-2B layout, {layers} layers, images 256×256 (64 tokens)";
        if (args.Length > 0 && args[0] == "lora")
        {
            LoraBench.Step(args, new LoraBench.Subject(label, model, model.Text, policy, (q, r) => Question(policy, q, r)), rng, setup);
            return;
        }
        Decode("qwen3vl", label, model, policy, rng, setup);
    }

    /// <summary>
    /// `NAME decode`: the frozen weights in bf16, then greedy decoding tokens/s at batch 1 and 8 (distinct images), 32 new
    /// tokens, prefill (vision tower included) timed apart; best of 2 after a warm-up.
    /// </summary>
    internal static void Decode(string name, string label, ICausalLM model, ChatModel policy, Rng rng, Stopwatch setup)
    {
        FrozenWeights.StoreInBf16(model.Parameters());
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Console.WriteLine($"# decode: {label}, {model.Parameters().Sum(p => (long)p.Length) / 1e6:F0}M parameters (bf16 frozen), greedy, 32 new tokens, threads={WorkerPool.Shared.Threads}; set-up {setup.Elapsed.TotalSeconds:F0} s");
        var generator = new Generator(model, null, policy.PadId);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 32 };
        foreach (int batch in new[] { 1, 8 })
        {
            var requests = Enumerable.Range(0, batch).Select(q => Question(policy, q, rng)).Select(q => new GenerationRequest(q.PromptIds, Pixels: q.Pixels)).ToList();
            generator.Generate(requests, options with { MaxNewTokens = 2 });   // warm-up
            double best = 0, prefill = double.MaxValue;
            for (int rep = 0; rep < 2; rep++)
            {
                var sw = Stopwatch.StartNew();
                generator.Generate(requests, options with { MaxNewTokens = 1 });
                prefill = Math.Min(prefill, sw.Elapsed.TotalSeconds);
                sw.Restart();
                var outputs = generator.Generate(requests, options);
                best = Math.Max(best, outputs.Sum(o => o[0].TokenIds.Length) / sw.Elapsed.TotalSeconds);
            }
            Console.WriteLine($"{name} decode batch={batch} tok_s={best:F2} prefill_s={prefill:F1} prompt_tokens={requests[0].PromptIds.Length}");
        }
    }

    /// <summary>Question q: a user turn with a random 256 × 256 image and a short text, expanded to its 64 placeholders.</summary>
    internal static Question Question(ChatModel policy, int q, Rng rng)
    {
        var image = new Image(256, 256, 3);
        for (int y = 0; y < 256; y++)
            for (int x = 0; x < 256; x++)
                for (int c = 0; c < 3; c++) image[x, y, c] = (byte)rng.NextInt(256);
        var (prompt, pixels) = policy.Prompt($"How many shapes are in picture {q}? Answer with a number.", image);
        return new Question(new DatasetRow($"q{q}", "bench", "0", null, null, new JsonObject(), "bench", q + 1), prompt, pixels);
    }
}

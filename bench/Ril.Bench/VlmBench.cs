using System.Diagnostics;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen35;
using Ril.Models.Families.Qwen3Vl;
using Ril.Models.Families.SmolVlm;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using Ril.Text;
using Ril.Text.Jinja;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// Real VLM layouts with random weights (their config.json's sizes; the frozen weights in bf16), each prompt a user turn
/// with one random image and a short question:
///   qwen3vl-2b    Qwen3-VL-2B-Instruct (D 2048, 28 layers, 16 / 8 heads of 128, SwiGLU 6144, vocab 151936, tied; vision 1024
///                 wide, 24 blocks, DeepStack taps 5 / 11 / 17, a 48 × 48 position table); 256 × 256 images: 64 image tokens.
///   qwen2.5vl-3b  Qwen2.5-VL-3B-Instruct (D 2048, 36 layers, 16 / 2 heads, SwiGLU 11008, vocab 151936, tied; vision 1280 wide,
///                 32 blocks, windows of 112 px, full attention in blocks 7 / 15 / 23 / 31); 252 × 252 images: 81 image tokens.
///   qwen3.5-0.8b  Qwen3.5-0.8B (D 1024, 24 layers: every 4th gated attention with 8 / 2 heads of 256, the others Gated DeltaNet
///                 with 16 + 16 heads of 128, conv 4; SwiGLU 3584, vocab 248320, tied; vision 768 wide, 12 blocks, no DeepStack);
///                 256 × 256 images: 64 image tokens. --layers must then be a multiple of 4.
///   smolvlm-256m  SmolVLM-256M-Instruct (SigLIP 768 × 12 at 512 px, pixel shuffle 4, Llama 576 × 30, 9 / 3 heads, vocab 49280,
///   smolvlm-500m  untied) and -500M (Llama 960 × 32, 15 / 5 heads); 512 × 512 images, split as released into 4 × 4 tiles of
///                 512 plus the global image (17 × 64 = 1088 image tokens), or with --no-split one tile (64 tokens).
/// Verbs:
///   decode   greedy tokens/s with a KV cache at batch 1 and 8 (distinct images), 32 new tokens, timed from the first sampled
///            token to the last (the tokens after each row's first), and the prefill (vision included) as the time to the
///            first token; best of 2 after a warm-up.
///   vision   the vision tower alone: images per second at 1 and 8 images per call (--images 1,2 to choose; pixel_rows are
///            SmolVLM's tiles, or Qwen's patches).
///   lora     LoraBench's RIL-like step (rollouts, π_old / π_ref, the discriminator's reward and BCE step, a Dr.GRPO update;
///            LoRA r = 16 on every projection, D sharing the bf16 base): its parts and peak memory.
///   full     the same step with full fine-tuning of the decoder (the vision tower frozen in bf16) and a discriminator of
///            its own (a second decoder of the same size with a scalar head, trained in full); no KL term.
/// Options: --layers N (decoder depth; default the real one) for smoke runs; decode --context N,M (batch 1 at prompts of
/// about N tokens); qwen3.5-0.8b --all-attention (every layer full attention: the same sizes without Gated DeltaNet);
/// and LoraBench's.
/// </summary>
public static class VlmBench
{
    /// <summary>A built subject: the model, its decoder, its chat model, its vision tower as a function, and the image side.</summary>
    sealed record Built(ICausalLM Model, DecoderLM Text, ChatModel Policy, Func<PixelInputs, object> Tower, int ImageSide, string Label);

    /// <summary>What the command line says of the layout: decoder depth (null: the real one), SmolVLM's image split, and
    /// for qwen3.5-0.8b --all-attention (every layer gated full attention, the same sizes otherwise — the comparison for
    /// decoding cost against context length).</summary>
    sealed record LayoutOptions(int? Layers, bool Split, bool AllAttention);

    static readonly Dictionary<string, Func<LayoutOptions, Rng, Built>> Layouts = new()
    {
        ["qwen3vl-2b"] = (o, rng) => Qwen3Vl2B(o.Layers ?? 28, rng),
        ["qwen2.5vl-3b"] = (o, rng) => Qwen25Vl3B(o.Layers ?? 36, rng),
        ["qwen3.5-0.8b"] = (o, rng) => Qwen35(o.Layers ?? 24, o.AllAttention, rng),
        ["smolvlm-256m"] = (o, rng) => SmolVlm(576, 1536, o.Layers ?? 30, 9, 3, o.Split, "SmolVLM-256M", rng),
        ["smolvlm-500m"] = (o, rng) => SmolVlm(960, 2560, o.Layers ?? 32, 15, 5, o.Split, "SmolVLM-500M", rng),
    };

    public static void Run(string[] args)
    {
        Func<LayoutOptions, Rng, Built>? build = null;
        if (args.Length < 2 || !Layouts.TryGetValue(args[0], out build) || args[1] is not ("decode" or "vision" or "lora" or "full"))
        {
            Console.Error.WriteLine($"usage: vlm {string.Join("|", Layouts.Keys)} decode|vision|lora|full [--layers N] [--no-split] [lora options]");
            Environment.Exit(2);
        }
        var setup = Stopwatch.StartNew();
        int? layers = args.Contains("--layers") ? LoraBench.Option(args, "--layers", 0) : null;
        bool allAttention = args.Contains("--all-attention");
        var rng = new Rng(7);
        var b = build(new LayoutOptions(layers, !args.Contains("--no-split"), allAttention), rng);
        Question Ask(int q, Rng r) => Question(b.Policy, q, r, b.ImageSide);
        switch (args[1])
        {
            case "lora":
            case "full":
                LoraBench.Step(args[1..], new LoraBench.Subject(b.Label, b.Model, b.Text, b.Policy, Ask) { Tower = b.Tower }, rng, setup);
                return;
        }
        foreach (var p in b.Model.Parameters()) p.RequiresGrad = false;   // decode and vision train nothing
        FrozenWeights.StoreInBf16(b.Model.Parameters());
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Console.WriteLine($"# {args[1]}: {b.Label}, {b.Model.Parameters().Sum(p => (long)p.Length) / 1e6:F0}M parameters (bf16 frozen), threads={WorkerPool.Shared.Threads}; set-up {setup.Elapsed.TotalSeconds:F0} s");
        if (args[1] == "vision") { Vision(b, rng, LoraBench.Ints(args, "--images", [1, 8])); return; }
        var generator = new Generator(b.Model, null, b.Policy.PadId);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 32 };
        // --context N,M: batch 1 only, each prompt lengthened to about N tokens by text before the question (decoding cost
        // against context length); otherwise batch 1 and 8 at the prompts' own length.
        int[] contexts = LoraBench.Ints(args, "--context", [0]);
        var filler = b.Policy.EncodeRaw(" the quick brown fox jumps over the lazy dog");
        foreach (int context in contexts)
        foreach (int batch in context > 0 ? new[] { 1 } : new[] { 1, 8 })
        {
            var requests = Enumerable.Range(0, batch).Select(q => Ask(q, rng)).Select(q => new GenerationRequest(
                [.. Enumerable.Range(0, Math.Max(0, context - q.PromptIds.Length)).Select(i => filler[i % filler.Length]), .. q.PromptIds], Pixels: q.Pixels)).ToList();
            MemoryBreakdown.ResetPeakResident();
            generator.Generate(requests, options with { MaxNewTokens = 2 });   // warm-up
            double best = 0, prefill = double.MaxValue;
            for (int rep = 0; rep < 2; rep++)
            {
                // Decoding is timed from the first sampled token (the prefill's) to the last one, by the generator's token
                // callback: the tokens after each row's first, over that span. The prefill is the time to the first token.
                var sw = Stopwatch.StartNew();
                double first = -1, last = 0;
                int tokens = 0;
                generator.Generate(requests, options, (_, _, _) =>
                {
                    last = sw.Elapsed.TotalSeconds;
                    if (first < 0) first = last;
                    tokens++;
                });
                prefill = Math.Min(prefill, first);
                best = Math.Max(best, (tokens - batch) / (last - first));
            }
            Console.WriteLine($"{args[0]}{(allAttention ? " (all attention)" : "")} decode batch={batch} tok_s={best:F2} prefill_s={prefill:F1} prompt_tokens={requests[0].PromptIds.Length} peak_rss_mb={MemoryBreakdown.PeakResidentBytes() >> 20}");
        }
    }

    /// <summary>The tower alone, no gradients: images per second with 1 and 8 images per call (best of 2 after a warm-up).</summary>
    static void Vision(Built b, Rng rng, int[] counts)
    {
        foreach (int images in counts)
        {
            var pixels = PixelInputs.Concat(Enumerable.Range(0, images).Select(q => Question(b.Policy, q, rng, b.ImageSide).Pixels!).ToList());
            double best = double.MaxValue;
            for (int rep = 0; rep < 3; rep++)
            {
                using var noGrad = NoGrad.Begin();
                using var scope = TensorScope.Begin();
                var sw = Stopwatch.StartNew();
                b.Tower(pixels);
                if (rep > 0) best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            Console.WriteLine($"vision images={images} pixel_rows={pixels.Values.Shape[0]} images_per_s={images / best:F3} s_per_image={best / images:F2}");
        }
    }

    /// <summary>Question q: a user turn with a random side × side image and a short text, expanded to its placeholders.</summary>
    static Question Question(ChatModel policy, int q, Rng rng, int side)
    {
        var image = new Image(side, side, 3);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                for (int c = 0; c < 3; c++) image[x, y, c] = (byte)rng.NextInt(256);
        var (prompt, pixels) = policy.Prompt($"How many shapes are in picture {q}? Answer with a number.", image);
        return new Question(new DatasetRow($"q{q}", "bench", "0", null, null, new JsonObject(), "bench", q + 1), prompt, pixels);
    }

    static Built Qwen3Vl2B(int layers, Rng rng)
    {
        var tokenizer = LoraBench.TestTokenizer();
        var config = Qwen3VlConfig.Parse(JsonNode.Parse($$"""
            {
              "model_type": "qwen3_vl", {{QwenTokenIds(tokenizer)}}, "tie_word_embeddings": true,
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
        var model = new Qwen3VlModel(config, rng);
        var processor = new Qwen2VlProcessor(tokenizer, Qwen2VlImageProcessor.Qwen3VlDefaults, config.ImageTokenId, defaultSystemPrompt: null);
        return new Built(model, model.Text, new ChatModel(model, processor), p => model.Vision.Forward(p), 256,
            $"Qwen3-VL-2B layout, {layers} layers, images 256×256 (64 tokens)");
    }

    static Built Qwen35(int layers, bool allAttention, Rng rng)
    {
        var tokenizer = LoraBench.TestTokenizer();
        var config = Qwen35Config.Parse(JsonNode.Parse($$"""
            {
              "model_type": "qwen3_5", {{QwenTokenIds(tokenizer)}}, "tie_word_embeddings": true,
              "text_config": {
                "model_type": "qwen3_5_text", "vocab_size": 248320, "hidden_size": 1024, "intermediate_size": 3584,
                "num_hidden_layers": {{layers}}, "full_attention_interval": 4, "num_attention_heads": 8, "num_key_value_heads": 2,{{(allAttention ? $"\"layer_types\": [{string.Join(", ", Enumerable.Repeat("\"full_attention\"", layers))}]," : "")}}
                "head_dim": 256, "linear_num_key_heads": 16, "linear_num_value_heads": 16, "linear_key_head_dim": 128,
                "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "rms_norm_eps": 1e-6, "max_position_embeddings": 262144,
                "tie_word_embeddings": true, "attn_output_gate": true,
                "rope_parameters": { "rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25,
                                     "mrope_section": [11, 11, 10], "mrope_interleaved": true }
              },
              "vision_config": {
                "model_type": "qwen3_5_vision", "hidden_size": 768, "intermediate_size": 3072, "depth": 12, "num_heads": 12,
                "out_hidden_size": 1024, "hidden_act": "gelu_pytorch_tanh", "patch_size": 16, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "num_position_embeddings": 2304
              }
            }
            """)!.AsObject(), "Qwen3.5-0.8B layout");
        var model = new Qwen35Model(config, rng);
        var processor = new Qwen2VlProcessor(tokenizer, Qwen2VlImageProcessor.Qwen3VlDefaults, config.ImageTokenId, defaultSystemPrompt: null);
        return new Built(model, model.Text, new ChatModel(model, processor), p => model.Vision.Forward(p), 256,
            $"Qwen3.5-0.8B layout, {layers} layers ({(allAttention ? layers : layers / 4)} attention), images 256×256 (64 tokens)");
    }

    static Built Qwen25Vl3B(int layers, Rng rng)
    {
        var tokenizer = LoraBench.TestTokenizer();
        var config = Qwen2VlConfig.Parse(JsonNode.Parse($$"""
            {
              "model_type": "qwen2_5_vl", {{QwenTokenIds(tokenizer)}}, "tie_word_embeddings": true,
              "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": {{layers}},
              "num_attention_heads": 16, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000,
              "max_position_embeddings": 128000, "rope_scaling": { "type": "mrope", "mrope_section": [16, 24, 24] },
              "vision_config": {
                "hidden_size": 1280, "intermediate_size": 3420, "depth": 32, "num_heads": 16, "out_hidden_size": 2048,
                "hidden_act": "silu", "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_chans": 3,
                "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2
              }
            }
            """)!.AsObject(), "Qwen2.5-VL-3B layout");
        var model = new Qwen2VlModel(config, rng);
        var processor = new Qwen2VlProcessor(tokenizer, new Qwen2VlImageProcessor(), config.ImageTokenId);
        return new Built(model, model.Text, new ChatModel(model, processor), p => model.Vision.Forward(p), 252,
            $"Qwen2.5-VL-3B layout, {layers} layers, images 252×252 (81 tokens)");
    }

    /// <summary>The special-token ids of the test tokenizer, as config.json fields.</summary>
    static string QwenTokenIds(BpeTokenizer tokenizer) =>
        $"\"image_token_id\": {tokenizer.SpecialTokenId("<|image_pad|>")}, \"vision_start_token_id\": {tokenizer.SpecialTokenId("<|vision_start|>")}, " +
        $"\"vision_end_token_id\": {tokenizer.SpecialTokenId("<|vision_end|>")}";

    static Built SmolVlm(int hidden, int intermediate, int layers, int heads, int kvHeads, bool split, string name, Rng rng)
    {
        var dir = Path.Combine(LoraBench.RepositoryRoot(), "tests", "fixtures", "models", "smolvlm-tiny");   // the released tokenizer and chat template
        var tokenizer = BpeTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
        var config = SmolVlmConfig.Parse(JsonNode.Parse($$"""
            {
              "model_type": "idefics3", "image_token_id": 49190, "scale_factor": 4, "tie_word_embeddings": false,
              "text_config": {
                "model_type": "llama", "vocab_size": 49280, "hidden_size": {{hidden}}, "intermediate_size": {{intermediate}},
                "num_hidden_layers": {{layers}}, "num_attention_heads": {{heads}}, "num_key_value_heads": {{kvHeads}}, "head_dim": 64,
                "rms_norm_eps": 1e-5, "rope_theta": 100000, "max_position_embeddings": 8192, "tie_word_embeddings": false
              },
              "vision_config": {
                "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                "patch_size": 16, "image_size": 512, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6
              }
            }
            """)!.AsObject(), $"{name} layout");
        var model = SmolVlmModel.Create(config, rng);
        var images = new SmolVlmImageProcessor { LongestEdge = 2048, MaxImageSize = 512, ImageSeqLen = 64, DoImageSplitting = split };
        var processor = new SmolVlmProcessor(tokenizer, images, config.ImageTokenId, template: HfChatTemplate.FromModelDirectory(dir));
        return new Built(model, model.Text, new ChatModel(model, processor), p => model.ImageFeatures(p), 512,
            $"{name} layout, {layers} layers, images 512×512 ({(split ? "4×4 tiles + global: 1088" : "one tile: 64")} tokens)");
    }
}

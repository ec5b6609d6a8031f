using System.Diagnostics;
using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen35;
using Ril.Tensors;

namespace Ril.Bench;

/// <summary>
/// A Qwen3.5-0.8B-layout model (docs/spec/QWEN3_5.md: D 1024, 24 layers of which 3, 7, …, 23 are gated attention with
/// 8 / 2 heads of 256 and the rest Gated DeltaNet with 16 key and 16 value heads of 128, conv kernel 4; SwiGLU 3584;
/// vocab 248320, tied; vision 768 wide, 12 blocks, a 48 × 48 position table, no DeepStack) with random weights. Prompts as
/// <see cref="Qwen3VlBench"/>'s: a user turn with one 256 × 256 image (64 image tokens) and a short question.
/// `qwen35 decode`: greedy decoding tokens/s with the hybrid cache at batch 1 and 8, 32 new tokens, prefill apart.
/// `qwen35 lora`: LoraBench's RIL-like step with these image prompts, its parts and peak memory. --layers N (a multiple
/// of 4; default 24) for a smaller smoke run.
/// </summary>
public static class Qwen35Bench
{
    public static void Run(string[] args)
    {
        var setup = Stopwatch.StartNew();
        int layers = LoraBench.Option(args, "--layers", 24);
        var tokenizer = LoraBench.TestTokenizer();
        int Id(string token) => tokenizer.SpecialTokenId(token);
        var config = Qwen35Config.Parse(JsonNode.Parse($$"""
            {
              "model_type": "qwen3_5", "image_token_id": {{Id("<|image_pad|>")}}, "vision_start_token_id": {{Id("<|vision_start|>")}},
              "vision_end_token_id": {{Id("<|vision_end|>")}}, "tie_word_embeddings": true,
              "text_config": {
                "model_type": "qwen3_5_text", "vocab_size": 248320, "hidden_size": 1024, "intermediate_size": 3584,
                "num_hidden_layers": {{layers}}, "full_attention_interval": 4, "num_attention_heads": 8, "num_key_value_heads": 2,
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
        var rng = new Rng(7);
        var model = new Qwen35Model(config, rng);
        var processor = new Qwen2VlProcessor(tokenizer, Qwen2VlImageProcessor.Qwen3VlDefaults, config.ImageTokenId, defaultSystemPrompt: null);
        var policy = new ChatModel(model, processor);
        foreach (var p in model.Vision.Parameters()) p.RequiresGrad = false;   // the tower stays frozen (LoRA trains the decoder's adapters)
        string label = $"Qwen3.5-0.8B layout, {layers} layers ({layers / 4} attention), images 256×256 (64 tokens)";
        if (args.Length > 0 && args[0] == "lora")
        {
            LoraBench.Step(args, new LoraBench.Subject(label, model, model.Text, policy, (q, r) => Qwen3VlBench.Question(policy, q, r)), rng, setup);
            return;
        }
        Qwen3VlBench.Decode("qwen35", label, model, policy, rng, setup);
    }
}

using System.Globalization;
using System.Text.Json.Nodes;
using Ril.Data.Synth;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Models.Families.Qwen35;
using Ril.Models.Families.RilVlm;
using Ril.Models.Families.SmolVlm;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Cli.Tests;

/// <summary>
/// What a small `ril train` run needs, written to a folder: the built-in suite at 32 pixels, a tiny VLM warmed up by SFT
/// to answer "oxed{ANSWER}" (so that its rollouts are sometimes right and Dr.GRPO has a gradient), and a Dr.GRPO recipe.
/// </summary>
public sealed class TinyRecipe
{
    public string Folder { get; }
    public string ModelDirectory => Path.Combine(Folder, "model");
    public string SuiteDirectory => Path.Combine(Folder, "suite");
    public string RunsDirectory => Path.Combine(Folder, "runs");

    TinyRecipe(string folder) => Folder = folder;

    public static TinyRecipe Write(string folder, int sftSteps = 60)
    {
        var recipe = new TinyRecipe(folder);
        SuiteWriter.Write(recipe.SuiteDirectory, new SuiteOptions(Seed: 1, TrainRows: 64, ValRows: 8, TestRows: 0, ImageSize: 32));
        var tokenizerPath = Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer.json");
        var tokenizer = BpeTokenizer.Load(tokenizerPath);
        var text = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 48, IntermediateSize = 96, NumLayers = 1, NumHeads = 4, NumKvHeadsField = 2, MaxPositions = 512 };
        var vision = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 2, ImageSize = 32, PatchSize = 8 };
        var config = new VlmConfig { Text = text, Vision = vision, PixelShuffle = 2, ImageTokenId = tokenizer.SpecialTokenId("<|image_pad|>") };
        var model = VisionLanguageModel.Create(text, vision, config.PixelShuffle, config.ImageTokenId, new Rng(3));
        var policy = RilVlmFamily.Chat(model, tokenizer);

        WarmUp(recipe, policy, sftSteps);
        Models.Checkpoint.Save(recipe.ModelDirectory, model.ConfigJson(), model.Parameters());
        File.Copy(tokenizerPath, Path.Combine(recipe.ModelDirectory, "tokenizer.json"), overwrite: true);
        return recipe;
    }

    /// <summary>
    /// The same folder with a tiny random Qwen2.5-VL-layout student (model_type qwen2_5_vl: windowed vision tower, M-RoPE,
    /// untied head) over the test tokenizer, whose special-token ids config.json names; preprocessor_config.json pins the
    /// resized image to 56×56 pixels, so each 32-pixel suite image becomes 16 patches and 4 placeholders; window_size 28
    /// makes the first vision block attend within 4 windows of 2×2 patches, the second over the whole image. Warmed up by SFT
    /// like the toy student, saved through <see cref="ChatModel.Save"/> (weights, tokenizer, image settings).
    /// </summary>
    public static TinyRecipe WriteQwen25Vl(string folder, int sftSteps = 60) => WriteRandomQwenVl(folder, sftSteps, tokenizer => $$"""
            {
              "model_type": "qwen2_5_vl",
              "architectures": ["Qwen2_5_VLForConditionalGeneration"],
              "vocab_size": {{tokenizer.VocabSize}},
              "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
              "hidden_act": "silu", "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 512,
              "rope_scaling": { "type": "mrope", "mrope_section": [2, 3, 3] },
              {{SpecialIds(tokenizer)}},
              "tie_word_embeddings": false,
              "vision_config": {
                "depth": 2, "hidden_size": 32, "out_hidden_size": 64, "intermediate_size": 48, "num_heads": 2, "hidden_act": "silu",
                "in_chans": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                "window_size": 28, "fullatt_block_indexes": [1], "tokens_per_second": 2
              }
            }
            """, """{ "min_pixels": 3136, "max_pixels": 3136, "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2 }""",
        json => new Qwen2VlModel(Qwen2VlConfig.Parse(json, "config.json"), new Rng(3)));

    /// <summary>
    /// The same folder with a tiny random Qwen3-VL (model_type qwen3_vl, the released layout: model.language_model.*,
    /// model.visual.*): a 2-layer Qwen3 decoder with head_dim 32 (q_proj not square), interleaved M-RoPE, a 2-block tower with
    /// a 3 × 3 position table and DeepStack taps [0, 1]. size.shortest_edge = longest_edge = 4096 pixels turn each 32-pixel
    /// suite image into 64 × 64: a 4 × 4 patch grid, 4 placeholders. Warmed up by SFT, saved through <see cref="ChatModel.Save"/>.
    /// </summary>
    public static TinyRecipe WriteQwen3Vl(string folder, int sftSteps = 60) => WriteRandomQwenVl(folder, sftSteps, tokenizer => $$"""
            {
              "model_type": "qwen3_vl",
              "architectures": ["Qwen3VLForConditionalGeneration"],
              {{SpecialIds(tokenizer)}},
              "tie_word_embeddings": true,
              "text_config": {
                "model_type": "qwen3_vl_text", "vocab_size": {{tokenizer.VocabSize}}, "head_dim": 32,
                "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                "hidden_act": "silu", "rms_norm_eps": 1e-06, "rope_theta": 5000000, "max_position_embeddings": 512, "attention_bias": false,
                "rope_scaling": { "mrope_interleaved": true, "mrope_section": [6, 5, 5], "rope_type": "default" }, "tie_word_embeddings": true
              },
              "vision_config": {
                "depth": 2, "hidden_size": 32, "out_hidden_size": 64, "intermediate_size": 48, "num_heads": 2, "hidden_act": "gelu_pytorch_tanh",
                "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                "num_position_embeddings": 9, "deepstack_visual_indexes": [0, 1]
              }
            }
            """, """{ "size": { "shortest_edge": 4096, "longest_edge": 4096 }, "patch_size": 16, "merge_size": 2, "temporal_patch_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5] }""",
        json => new Qwen3VlModel(Qwen3VlConfig.Parse(json, "config.json"), new Rng(3)));

    /// <summary>
    /// The same folder with a tiny random Qwen3.5 (model_type qwen3_5, the released layout): a hybrid decoder of one Gated
    /// DeltaNet layer (2 key heads, 4 value heads of 8) and one gated attention layer (head_dim 32, a quarter rotated by
    /// interleaved M-RoPE), zero-centred norms, tied head; Qwen3-VL's tower without DeepStack and its processor at factor 32
    /// (4 placeholders per suite image, as <see cref="WriteQwen3Vl"/>). Warmed up by SFT, saved through <see cref="ChatModel.Save"/>.
    /// </summary>
    public static TinyRecipe WriteQwen35(string folder, int sftSteps = 60) => WriteRandomQwenVl(folder, sftSteps, tokenizer => $$"""
            {
              "model_type": "qwen3_5",
              "architectures": ["Qwen3_5ForConditionalGeneration"],
              {{SpecialIds(tokenizer)}},
              "tie_word_embeddings": true,
              "text_config": {
                "model_type": "qwen3_5_text", "vocab_size": {{tokenizer.VocabSize}}, "head_dim": 32,
                "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                "layer_types": ["linear_attention", "full_attention"], "linear_num_key_heads": 2, "linear_num_value_heads": 4,
                "linear_key_head_dim": 8, "linear_value_head_dim": 8, "linear_conv_kernel_dim": 4,
                "hidden_act": "silu", "rms_norm_eps": 1e-06, "max_position_embeddings": 512, "attention_bias": false, "attn_output_gate": true,
                "rope_parameters": { "mrope_interleaved": true, "mrope_section": [2, 1, 1], "rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25 },
                "tie_word_embeddings": true
              },
              "vision_config": {
                "model_type": "qwen3_5_vision", "depth": 2, "hidden_size": 32, "out_hidden_size": 64, "intermediate_size": 48, "num_heads": 2,
                "hidden_act": "gelu_pytorch_tanh", "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                "num_position_embeddings": 9
              }
            }
            """, """{ "size": { "shortest_edge": 4096, "longest_edge": 4096 }, "patch_size": 16, "merge_size": 2, "temporal_patch_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5] }""",
        json => new Qwen35Model(Qwen35Config.Parse(json, "config.json"), new Rng(3)));

    static string SpecialIds(BpeTokenizer tokenizer) => string.Create(CultureInfo.InvariantCulture, $$"""
        "bos_token_id": {{tokenizer.SpecialTokenId("<|endoftext|>")}}, "eos_token_id": {{tokenizer.SpecialTokenId("<|im_end|>")}},
        "vision_start_token_id": {{tokenizer.SpecialTokenId("<|vision_start|>")}}, "vision_end_token_id": {{tokenizer.SpecialTokenId("<|vision_end|>")}},
        "image_token_id": {{tokenizer.SpecialTokenId("<|image_pad|>")}}
        """);

    /// <summary>A random Qwen-VL checkpoint of <paramref name="config"/> over the test tokenizer, warmed up by SFT on the suite.</summary>
    static TinyRecipe WriteRandomQwenVl(string folder, int sftSteps, Func<BpeTokenizer, string> config, string preprocessor, Func<JsonObject, ICausalLM> random)
    {
        var recipe = new TinyRecipe(folder);
        SuiteWriter.Write(recipe.SuiteDirectory, new SuiteOptions(Seed: 1, TrainRows: 64, ValRows: 8, TestRows: 0, ImageSize: 32));
        var tokenizerPath = Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer.json");
        var tokenizer = BpeTokenizer.Load(tokenizerPath);
        var initial = Path.Combine(folder, "initial");
        Directory.CreateDirectory(initial);
        File.WriteAllText(Path.Combine(initial, "config.json"), config(tokenizer));
        File.WriteAllText(Path.Combine(initial, "preprocessor_config.json"), preprocessor);
        File.Copy(tokenizerPath, Path.Combine(initial, "tokenizer.json"), overwrite: true);
        var model = random((JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(initial, "config.json")))!);
        Models.Checkpoint.Save(initial, model.ConfigJson(), model.Parameters());

        var policy = ChatModel.Load(initial);
        WarmUp(recipe, policy, sftSteps);
        policy.Save(recipe.ModelDirectory);
        return recipe;
    }

    /// <summary>
    /// The same folder with a tiny random SmolVLM (model_type idefics3: SigLIP tower, pixel-shuffle connector, Llama decoder
    /// under model.text_model) over the real SmolVLM tokenizer and chat template of the smolvlm-tiny fixture, so that its
    /// &lt;image&gt;, &lt;fake_token_around_image&gt; and &lt;global-img&gt; tokens exist. image_size 32, patch_size 8 and scale_factor 2
    /// give 4 features per tile; size.longest_edge and max_image_size.longest_edge 32 keep each 32-pixel suite image one
    /// unsplit tile, so 4 &lt;image&gt; tokens. Warmed up by SFT like the toy student, saved through <see cref="ChatModel.Save"/>.
    /// </summary>
    public static TinyRecipe WriteSmolVlm(string folder, int sftSteps = 60)
    {
        var recipe = new TinyRecipe(folder);
        SuiteWriter.Write(recipe.SuiteDirectory, new SuiteOptions(Seed: 1, TrainRows: 64, ValRows: 8, TestRows: 0, ImageSize: 32));
        var fixture = Path.Combine(AppContext.BaseDirectory, "fixtures", "smolvlm-tiny");
        var tokenizer = BpeTokenizer.Load(Path.Combine(fixture, "tokenizer.json"));
        var initial = Path.Combine(folder, "initial");
        Directory.CreateDirectory(initial);
        File.WriteAllText(Path.Combine(initial, "config.json"), string.Create(CultureInfo.InvariantCulture, $$"""
            {
              "model_type": "idefics3",
              "architectures": ["Idefics3ForConditionalGeneration"],
              "image_token_id": {{tokenizer.SpecialTokenId("<image>")}},
              "scale_factor": 2,
              "tie_word_embeddings": false,
              "vocab_size": {{tokenizer.VocabSize}},
              "text_config": {
                "model_type": "llama", "vocab_size": {{tokenizer.VocabSize}},
                "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
                "head_dim": 16, "hidden_act": "silu", "rms_norm_eps": 1e-05, "rope_theta": 100000, "max_position_embeddings": 512,
                "rope_scaling": null, "attention_bias": false, "mlp_bias": false
              },
              "vision_config": {
                "model_type": "idefics3", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1, "num_attention_heads": 2,
                "num_channels": 3, "image_size": 32, "patch_size": 8, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-06
              }
            }
            """));
        foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.json", "generation_config.json" })
            File.Copy(Path.Combine(fixture, name), Path.Combine(initial, name), overwrite: true);
        File.WriteAllText(Path.Combine(initial, "preprocessor_config.json"), """
            {
              "image_processor_type": "Idefics3ImageProcessor", "processor_class": "Idefics3Processor",
              "do_convert_rgb": true, "do_resize": true, "size": { "longest_edge": 32 }, "resample": 1,
              "do_image_splitting": true, "max_image_size": { "longest_edge": 32 },
              "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
              "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_pad": true
            }
            """);
        File.WriteAllText(Path.Combine(initial, "processor_config.json"), """{ "image_seq_len": 4, "processor_class": "Idefics3Processor" }""");
        var config = SmolVlmConfig.Parse((JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(initial, "config.json")))!, "config.json");
        var random = SmolVlmModel.Create(config, new Rng(3));
        Models.Checkpoint.Save(initial, random.ConfigJson(), random.Parameters());

        var policy = ChatModel.Load(initial);
        WarmUp(recipe, policy, sftSteps);
        policy.Save(recipe.ModelDirectory);
        return recipe;
    }

    /// <summary>SFT on "\boxed{ANSWER}" replies to train questions, so that rollouts are sometimes right.</summary>
    static void WarmUp(TinyRecipe recipe, ChatModel policy, int sftSteps)
    {
        var train = Data.JsonlDataset.Load(Path.Combine(recipe.SuiteDirectory, "train.jsonl"));
        var flow = new DataFlow(train, policy, seed: 3);
        var sft = new SftTrainer(policy, new AdamW(policy.Parameters().ToList(), 3e-3f, 0f));
        var rng = new Rng(4);
        for (int step = 0; step < sftSteps; step++)
            sft.Step(Enumerable.Range(0, 8).Select(_ => flow.Render(train[rng.NextInt(train.Count)]))
                .Select(q => new SftExample(q.PromptIds, q.Pixels, SftTrainer.ResponseTokens(policy, $"\\boxed{{{q.Row.Answer}}}"))).ToList());
    }

    /// <summary>
    /// A Dr.GRPO recipe of <paramref name="steps"/> steps, 4 questions × G 4 per step in mini-batches of 16 and micro-batches
    /// of 4 (so that micro-batches span processes), evaluated on val at the start and the end; returns its path.
    /// </summary>
    public string Recipe(string name, int steps = 20)
    {
        var path = Path.Combine(Folder, $"{name}.yaml");
        File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture, $"""
            run:
              name: {name}
              out: {RunsDirectory}
            model:
              path: {ModelDirectory}
            data:
              train: {Path.Combine(SuiteDirectory, "train.jsonl")}
              val: {Path.Combine(SuiteDirectory, "val.jsonl")}
            trainer:
              algo: dr_grpo
              steps: {steps}
              questions_per_step: 4
              lr: 1e-3
              mini_batch_size: 16
              micro_batch_size: 4
              seed: 7
            rollout:
              group_size: 4
              max_response_tokens: 24
              temperature: 1.0
              top_p: 0.95
              top_k: 50
            reward:
              answer: verifier
            eval:
              every: 0
              each_epoch: false
              settings: "0.6:1:2"
              max_new_tokens: 24
            checkpoint:
              every: 10
              keep: 1

            """));
        return path;
    }

    /// <summary>
    /// The same recipe as RIL: the scripted terse and grouper teachers' responses (2 per question) in the teacher cache, the
    /// 2G responses of a step in one mini-batch, a discriminator started from the student; returns its path.
    /// </summary>
    public string RilRecipe(string name, int steps = 20)
    {
        var path = Recipe(name, steps);
        var cache = Path.Combine(Folder, "teachers.jsonl");
        if (!File.Exists(cache))
            Data.Teachers.ScriptedTeacher.WriteCache(Data.JsonlDataset.Load(Path.Combine(SuiteDirectory, "train.jsonl"), Data.ImageMode.TextOnly),
                [Data.Teachers.ScriptedTeacher.Named("terse"), Data.Teachers.ScriptedTeacher.Named("grouper")], 2, 1, cache);
        File.WriteAllText(path, File.ReadAllText(path).Replace("algo: dr_grpo", "algo: ril").Replace("mini_batch_size: 16", "mini_batch_size: 32") + $"""
            ril:
              teacher_cache: {cache}
            discriminator:
              lr: 1e-3
              max_response_tokens: 24

            """);
        return path;
    }

    public string RunDirectory(string name) => Path.Combine(RunsDirectory, name);
}

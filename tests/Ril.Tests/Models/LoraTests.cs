using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;

namespace Ril.Tests.Models;

/// <summary>
/// LoRA adapters: PEFT's layout and names, load round trip, merge, the base as reference, bf16 frozen weights and
/// recomputation. PEFT's conventions, written here from its documentation and published adapters: adapter_config.json
/// with peft_type "LORA", r, lora_alpha, lora_dropout, target_modules, bias "none", task_type; adapter_model.safetensors
/// with "base_model.model." + module + ".lora_A.weight" [r, in] and ".lora_B.weight" [out, r]; scaling lora_alpha / r;
/// B starts at zero and A Kaiming-uniform (bound 1/√in); extra trained modules (modules_to_save) under their own names.
/// </summary>
public sealed class LoraTests : IDisposable
{
    static readonly DecoderConfig Tiny = new()
    {
        VocabSize = 50, HiddenSize = 16, IntermediateSize = 24, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2, AttentionBias = true,
    };
    static readonly int[] Ids = [1, 7, 3, 9, 4, 2, 8, 8, 5, 11, 30, 6];
    const int Batch = 2;

    readonly string _dir = Path.Combine(Path.GetTempPath(), $"ril-lora-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    static float[] Logits(DecoderLM lm) { using (NoGrad.Begin()) return lm.Logits(Ids, Batch).ToArray(); }

    /// <summary>Adapters whose B is random, so they change the output (a fresh B is zero).</summary>
    static LoraAdapters AttachTrained(DecoderLM lm, LoraConfig config, ulong seed = 3)
    {
        var adapters = LoraAdapters.Attach(lm, config, new Rng(seed));
        var rng = new Rng(seed + 1);
        foreach (var a in adapters.All) rng.FillNormal(a.B.Data, 0.1f);
        return adapters;
    }

    static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = MathF.Max(worst, MathF.Abs(expected[i] - actual[i]));
        Assert.True(worst <= tolerance, $"largest difference {worst:G3} exceeds {tolerance:G3}");
    }

    [Fact]
    public void Saved_adapter_has_peft_layout_and_names()
    {
        var lm = new DecoderLM(Tiny, new Rng(1));
        var adapters = AttachTrained(lm, new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.05f, TargetModules = ["q_proj", "k_proj", "down_proj"] });
        PeftAdapter.Save(_dir, adapters, PeftAdapter.CausalLm, baseModel: "Qwen/Qwen2-0.5B");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "adapter_config.json")))!.AsObject();
        Assert.Equal("LORA", (string?)config["peft_type"]);
        Assert.Equal("CAUSAL_LM", (string?)config["task_type"]);
        Assert.Equal("Qwen/Qwen2-0.5B", (string?)config["base_model_name_or_path"]);
        Assert.Equal(4, (int)config["r"]!);
        Assert.Equal(8f, (float)config["lora_alpha"]!);
        Assert.Equal(0.05f, (float)config["lora_dropout"]!);
        Assert.Equal(["q_proj", "k_proj", "down_proj"], config["target_modules"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("none", (string?)config["bias"]);
        Assert.False((bool)config["fan_in_fan_out"]!);

        var file = SafeTensors.Read(Path.Combine(_dir, "adapter_model.safetensors"));
        int d = Tiny.HiddenSize, kv = Tiny.NumKvHeads * Tiny.HeadDim, ff = Tiny.IntermediateSize;
        var expected = new Dictionary<string, int[]>();
        for (int layer = 0; layer < Tiny.NumLayers; layer++)
        {
            string p = $"base_model.model.model.layers.{layer}.";
            expected[p + "self_attn.q_proj.lora_A.weight"] = [4, d];
            expected[p + "self_attn.q_proj.lora_B.weight"] = [d, 4];
            expected[p + "self_attn.k_proj.lora_A.weight"] = [4, d];
            expected[p + "self_attn.k_proj.lora_B.weight"] = [kv, 4];
            expected[p + "mlp.down_proj.lora_A.weight"] = [4, ff];
            expected[p + "mlp.down_proj.lora_B.weight"] = [d, 4];
        }
        Assert.Equal(expected.Keys.Order(), file.Tensors.Select(t => t.Name).Order());
        foreach (var t in file.Tensors) Assert.Equal(expected[t.Name], t.Shape);
    }

    [Fact]
    public void New_adapters_start_as_peft_does_and_leave_the_output_unchanged()
    {
        var lm = new DecoderLM(Tiny, new Rng(1));
        var before = Logits(lm);
        var adapters = LoraAdapters.Attach(lm, new LoraConfig { Rank = 4, Alpha = 8 }, new Rng(2));
        Assert.Equal(2f, adapters.Config.Scaling);
        Assert.Equal(Tiny.NumLayers * LoraConfig.AllProjections.Count, adapters.All.Count);
        foreach (var a in adapters.All)
        {
            float bound = 1f / MathF.Sqrt(a.A.Shape[1]);
            Assert.All(a.A.ToArray(), v => Assert.InRange(v, -bound, bound));
            Assert.Contains(a.A.ToArray(), v => v != 0);
            Assert.All(a.B.ToArray(), v => Assert.Equal(0f, v));
        }
        Assert.All(lm.Parameters(), p => Assert.False(p.RequiresGrad));
        Assert.All(adapters.Parameters(), p => Assert.True(p.RequiresGrad));
        Assert.Equal(before, Logits(lm));
    }

    [Fact]
    public void Adapters_off_give_the_base_model_and_on_change_it()
    {
        var lm = new DecoderLM(Tiny, new Rng(1));
        var baseLogits = Logits(lm);
        var adapters = AttachTrained(lm, new LoraConfig { Rank = 2, Alpha = 4 });
        var adapted = Logits(lm);
        using (adapters.Disabled()) Assert.Equal(baseLogits, Logits(lm));   // the KL reference, from the same weights
        Assert.NotEqual(baseLogits, adapted);
        Assert.Equal(adapted, Logits(lm));
        adapters.Detach();
        Assert.Null(lm.Adapters);
        Assert.Equal(baseLogits, Logits(lm));
    }

    [Fact]
    public void Loaded_adapter_reproduces_the_saved_one()
    {
        var lm = new DecoderLM(Tiny, new Rng(1));
        var saved = AttachTrained(lm, new LoraConfig { Rank = 3, Alpha = 5, TargetModules = ["v_proj", "o_proj", "gate_proj", "up_proj"] });
        PeftAdapter.Save(_dir, saved, PeftAdapter.CausalLm);

        var fresh = new DecoderLM(Tiny, new Rng(1));   // the same base weights
        var loaded = PeftAdapter.Load(_dir, fresh);
        Assert.Equal(saved.Config with { TargetModules = [] }, loaded.Config with { TargetModules = [] });
        Assert.Equal(saved.Config.TargetModules, loaded.Config.TargetModules);
        Assert.Equal(Logits(lm), Logits(fresh));
    }

    [Fact]
    public void Merge_then_forward_equals_adapter_forward()
    {
        var lm = new DecoderLM(Tiny, new Rng(1));
        var adapters = AttachTrained(lm, new LoraConfig { Rank = 4, Alpha = 16 });
        var adapted = Logits(lm);
        adapters.Merge();
        Assert.Null(lm.Adapters);
        AssertClose(adapted, Logits(lm), 1e-5f);
        Assert.Throws<InvalidOperationException>(() => adapters.Merge());   // merged once only
    }

    [Fact]
    public void Discriminator_adapters_share_the_student_base_and_save_their_score_head()
    {
        var student = new DecoderLM(Tiny, new Rng(1));
        var studentAdapters = AttachTrained(student, new LoraConfig { Rank = 2, Alpha = 2 });
        var backbone = student.SharingWeights();
        Assert.Same(student.Layers[1].QProj, backbone.Layers[1].QProj);
        var d = new ScalarHeadModel(backbone, new Rng(5));
        var dAdapters = AttachTrained(backbone, new LoraConfig { Rank = 2, Alpha = 2, TargetModules = ["q_proj", "v_proj"] }, seed: 7);
        float[] Scores(ScalarHeadModel m) { using (NoGrad.Begin()) return m.Forward(Ids, Batch, [6, 4]).ToArray(); }
        var scores = Scores(d);
        Assert.NotEqual(Logits(new DecoderLM(Tiny, new Rng(1))), Logits(student));   // each model applies its own adapters only
        using (studentAdapters.Disabled()) Assert.Equal(Logits(new DecoderLM(Tiny, new Rng(1))), Logits(student));

        PeftAdapter.Save(_dir, dAdapters, PeftAdapter.SequenceClassification, modulesToSave: [d.Score]);
        var names = SafeTensors.Read(Path.Combine(_dir, "adapter_model.safetensors")).Tensors.Select(t => t.Name).ToList();
        Assert.Contains("base_model.model.score.weight", names);
        Assert.Contains("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", names);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "adapter_config.json")))!;
        Assert.Equal("SEQ_CLS", (string?)config["task_type"]);
        Assert.Equal(["score"], config["modules_to_save"]!.AsArray().Select(n => (string)n!));

        var reloaded = new ScalarHeadModel(new DecoderLM(Tiny, new Rng(1)), new Rng(99));
        PeftAdapter.Load(_dir, reloaded.Backbone, [reloaded.Score]);
        Assert.Equal(scores, Scores(reloaded));
    }

    [Fact]
    public void Unsupported_adapter_config_is_an_error_naming_file_and_field()
    {
        var lm = new DecoderLM(Tiny, new Rng(1));
        PeftAdapter.Save(_dir, AttachTrained(lm, new LoraConfig()), PeftAdapter.CausalLm);
        var path = Path.Combine(_dir, "adapter_config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!;
        config["use_dora"] = true;
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(_dir, new DecoderLM(Tiny, new Rng(1))));
        Assert.Contains("adapter_config.json", e.Message);
        Assert.Contains("'use_dora'", e.Message);

        var bad = Assert.Throws<ArgumentException>(() => LoraAdapters.Attach(new DecoderLM(Tiny, new Rng(1)), new LoraConfig { TargetModules = ["qkv"] }, new Rng(1)));
        Assert.Contains("match no projection", bad.Message);
    }

    [Fact]
    public void Bf16_frozen_base_computes_as_its_rounded_float32_copy_in_half_the_memory()
    {
        var rounded = new DecoderLM(Tiny with { TieWordEmbeddings = true }, new Rng(1));
        var frozen = new DecoderLM(Tiny with { TieWordEmbeddings = true }, new Rng(1));
        foreach (var p in rounded.Parameters().Where(p => p.Rank == 2))
            Tensor.FromArray(p.ToArray(), p.Shape).FreezeToBf16().ToArray().CopyTo(p.Data);   // float32 values rounded through bf16
        var adaptersA = AttachTrained(rounded, new LoraConfig { Rank = 2, Alpha = 4 });
        var adaptersB = AttachTrained(frozen, new LoraConfig { Rank = 2, Alpha = 4 });
        long before = frozen.Parameters().Sum(p => p.StorageBytes);
        long matrices = frozen.Parameters().Where(p => p.Rank == 2).Sum(p => p.StorageBytes);
        Assert.Equal(matrices / 2, FrozenWeights.StoreInBf16(frozen.Parameters()));
        Assert.Equal(before - matrices / 2, frozen.Parameters().Sum(p => p.StorageBytes));
        AssertClose(Logits(rounded), Logits(frozen), 1e-5f);

        // Training through the frozen base: the adapters' gradients match too.
        foreach (var lm in new[] { rounded, frozen })
            Ops.CrossEntropy(lm.Logits(Ids, Batch), Ids).Backward();
        foreach (var (a, b) in adaptersA.Parameters().Zip(adaptersB.Parameters()))
            AssertClose(a.Grad!.ToArray(), b.Grad!.ToArray(), 1e-5f);
    }

    [Fact]
    public void Recomputed_blocks_give_the_same_adapter_gradients()
    {
        float[][] Gradients(bool recompute)
        {
            var lm = new DecoderLM(Tiny, new Rng(1)) { RecomputeActivations = recompute };
            var adapters = AttachTrained(lm, new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0.1f });
            Ops.CrossEntropy(lm.Logits(Ids, Batch), Ids).Backward();
            return adapters.Parameters().Select(p => p.Grad!.ToArray()).ToArray();
        }
        var stored = Gradients(false);
        var recomputed = Gradients(true);
        for (int i = 0; i < stored.Length; i++) Assert.Equal(stored[i], recomputed[i]);
    }

    [Fact]
    public void Target_modules_match_whole_name_segments()
    {
        var config = new LoraConfig { TargetModules = ["q_proj", "mlp.up_proj"] };
        Assert.True(config.Targets("model.layers.0.self_attn.q_proj"));
        Assert.True(config.Targets("model.layers.3.mlp.up_proj"));
        Assert.False(config.Targets("model.layers.0.self_attn.xq_proj"));
        Assert.False(config.Targets("model.layers.0.mlp.gate_proj"));
    }
}

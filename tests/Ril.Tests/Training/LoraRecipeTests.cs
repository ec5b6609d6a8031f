using Ril.Models;
using Ril.Tests.Data;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>The recipe's `lora` section and lean-training switches: read, typed and range-checked like every other key.</summary>
public sealed class LoraRecipeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-lora-recipe-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    const string Minimal = "model:\n  path: models/tiny\ndata:\n  train: data/train.jsonl\n";

    Recipe Load(string yaml, params string[] overrides)
    {
        var path = Path.Combine(_dir, "recipe.yaml");
        File.WriteAllText(path, yaml);
        return Recipe.Load(path, overrides);
    }

    [Fact]
    public void Sharing_prompts_is_read_and_refused_for_a_model_with_linear_attention()
    {
        var r = Load(Minimal, "trainer.share_prompt=true");
        Assert.True(r.Rl.SharePrompt);
        Assert.False(Load(Minimal).Rl.SharePrompt);
        static ICausalLM Fixture(string name)
        {
            var dir = Path.Combine(RepoPaths.Fixtures, "models", name);
            var json = ModelFamilies.ReadConfig(dir, out var path);
            return ModelFamilies.Of(json, path).Load(dir, json, path, Ril.Text.BpeTokenizer.Load(TinyModels.TokenizerPath)).Model;
        }
        r.CheckModel(Fixture("qwen2-tiny"));                                                 // attention in every layer
        var refused = Assert.Throws<RecipeException>(() => r.CheckModel(Fixture("qwen3.5-tiny")));
        Assert.Contains("recipe.yaml", refused.Message);
        Assert.Contains("trainer.share_prompt", refused.Message);
        Load(Minimal).CheckModel(Fixture("qwen3.5-tiny"));                                    // off: nothing to refuse
    }

    [Fact]
    public void Sharing_the_discriminators_prefix_is_read_saved_and_refused_for_a_model_with_linear_attention()
    {
        var r = Load(Minimal, "discriminator.share_prefix=true");
        Assert.True(r.Ril.DiscriminatorSettings.SharePrefix);
        Assert.False(Load(Minimal).Ril.DiscriminatorSettings.SharePrefix);
        Assert.Equal(true, (bool?)r.ToJson()["discriminator"]!["share_prefix"]);
        static ICausalLM Fixture(string name)
        {
            var dir = Path.Combine(RepoPaths.Fixtures, "models", name);
            var json = ModelFamilies.ReadConfig(dir, out var path);
            return ModelFamilies.Of(json, path).Load(dir, json, path, Ril.Text.BpeTokenizer.Load(TinyModels.TokenizerPath)).Model;
        }
        r.CheckModel(Fixture("qwen2-tiny"));
        var refused = Assert.Throws<RecipeException>(() => r.CheckModel(Fixture("qwen3.5-tiny")));
        Assert.Contains("recipe.yaml", refused.Message);
        Assert.Contains("discriminator.share_prefix", refused.Message);
    }

    [Fact]
    public void Lora_is_off_unless_its_section_is_given()
    {
        var r = Load(Minimal);
        Assert.Null(r.Lora);
        Assert.False(r.FrozenBf16);
        Assert.False(r.RecomputeActivations);
    }

    [Fact]
    public void Reads_the_lora_section_and_the_lean_switches()
    {
        var r = Load(Minimal.Replace("  path: models/tiny\n", "  path: models/tiny\n  frozen_bf16: true\n") + """
            trainer:
              recompute_activations: true
            lora:
              rank: 16
              alpha: 32
              dropout: 0.05
              target_modules: [q_proj, v_proj]
            """, "lora.rank=8");
        Assert.Equal(new LoraConfig { Rank = 8, Alpha = 32, Dropout = 0.05f, TargetModules = r.Lora!.TargetModules }, r.Lora);
        Assert.Equal(["q_proj", "v_proj"], r.Lora.TargetModules);
        Assert.True(r.FrozenBf16);
        Assert.True(r.RecomputeActivations);
        var json = r.ToJson();
        Assert.Equal(8, json["lora"]!["rank"]!.GetValue<int>());
        Assert.True(json["model"]!["frozen_bf16"]!.GetValue<bool>());
        Assert.Equal(LoraConfig.AllProjections, Load(Minimal, "lora.rank=4").Lora!.TargetModules);
    }

    [Theory]
    [InlineData("lora.rank=0", "lora.rank")]
    [InlineData("lora.alpha=0", "lora.alpha")]
    [InlineData("lora.dropout=1", "lora.dropout")]
    [InlineData("lora.target_modules=q_proj,qkv", "unknown module 'qkv'")]
    [InlineData("model.frozen_bf16=maybe", "model.frozen_bf16")]
    public void Bad_values_are_errors_naming_the_key(string setting, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => Load(Minimal, setting));
        Assert.Contains(expected, e.Message);
    }
}

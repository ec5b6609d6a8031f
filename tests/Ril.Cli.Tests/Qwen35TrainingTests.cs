using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>The tiny Qwen3.5-layout student of <see cref="TinyRecipe.WriteQwen35"/>.</summary>
public sealed class TinyQwen35Student() : TinyStudent(TinyRecipe.WriteQwen35(Folder("qwen35")));

/// <summary>
/// The training runs of <see cref="VlmTrainingTests"/> (RIL, Dr.GRPO, kill -9 and exact resume, PEFT names) with a
/// Qwen3.5-layout student: the hybrid decoder (a Gated DeltaNet layer and a gated attention layer) under the released
/// model.language_model, sampled with the hybrid cache (its recurrent state copied for each of a prompt's samples).
/// </summary>
public sealed class Qwen35TrainingTests(TinyQwen35Student student)
    : VlmTrainingTests(student.Tiny, "qwen3_5", "model.language_model."), IClassFixture<TinyQwen35Student>
{
    [Fact]
    public void The_student_folder_is_a_qwen3_5_checkpoint_with_a_linear_attention_layer()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny.ModelDirectory, "config.json")))!;
        Assert.Equal("qwen3_5", (string)config["model_type"]!);
        var model = Models.ChatModel.Load(Tiny.ModelDirectory);
        var image = Data.JsonlDataset.Load(Path.Combine(Tiny.SuiteDirectory, "train.jsonl"))[0].LoadImage();
        Assert.Equal(4, model.Processor.PlaceholdersFor([image]));
        Assert.Contains(model.Parameters(), p => p.Name == "model.language_model.layers.0.linear_attn.A_log");
        Assert.Contains(model.Parameters(), p => p.Name == "model.language_model.layers.1.self_attn.q_norm.weight");
    }
}

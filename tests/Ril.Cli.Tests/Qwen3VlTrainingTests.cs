using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>The tiny Qwen3-VL-layout student of <see cref="TinyRecipe.WriteQwen3Vl"/>.</summary>
public sealed class TinyQwen3VlStudent() : TinyStudent(TinyRecipe.WriteQwen3Vl(Folder("qwen3vl")));

/// <summary>
/// The training runs of <see cref="VlmTrainingTests"/> (RIL, Dr.GRPO, kill -9 and exact resume, PEFT names) with a
/// Qwen3-VL-layout student: several placeholders per image, interleaved M-RoPE, DeepStack, a Qwen3 decoder under the
/// released model.language_model.
/// </summary>
public sealed class Qwen3VlTrainingTests(TinyQwen3VlStudent student)
    : VlmTrainingTests(student.Tiny, "qwen3_vl", "model.language_model."), IClassFixture<TinyQwen3VlStudent>
{
    [Fact]
    public void The_student_folder_is_a_qwen3_vl_checkpoint_whose_images_take_several_placeholders()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny.ModelDirectory, "config.json")))!;
        Assert.Equal("qwen3_vl", (string)config["model_type"]!);
        var model = Models.ChatModel.Load(Tiny.ModelDirectory);
        var image = Data.JsonlDataset.Load(Path.Combine(Tiny.SuiteDirectory, "train.jsonl"))[0].LoadImage();
        Assert.Equal(32, image.Width);
        Assert.Equal(4, model.Processor.PlaceholdersFor([image]));
        Assert.Contains(model.Parameters(), p => p.Name == "model.visual.deepstack_merger_list.1.linear_fc2.weight");
    }
}

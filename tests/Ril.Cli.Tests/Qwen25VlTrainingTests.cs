using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>The tiny Qwen2.5-VL-layout student of <see cref="TinyRecipe.WriteQwen25Vl"/>.</summary>
public sealed class TinyQwen25VlStudent() : TinyStudent(TinyRecipe.WriteQwen25Vl(Folder("qwen25vl")));

/// <summary>
/// The training runs of <see cref="VlmTrainingTests"/> with a Qwen2.5-VL-layout student: several placeholders per
/// image, M-RoPE positions, a windowed vision tower; the decoder under the Hub's model.layers.
/// </summary>
public sealed class Qwen25VlTrainingTests(TinyQwen25VlStudent student)
    : VlmTrainingTests(student.Tiny, "qwen2_5_vl", "model.language_model."), IClassFixture<TinyQwen25VlStudent>
{
    [Fact]
    public void The_student_folder_is_a_qwen2_5_vl_checkpoint_whose_images_take_several_placeholders()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny.ModelDirectory, "config.json")))!;
        Assert.Equal("qwen2_5_vl", (string)config["model_type"]!);
        var model = Models.ChatModel.Load(Tiny.ModelDirectory);
        var image = Data.JsonlDataset.Load(Path.Combine(Tiny.SuiteDirectory, "train.jsonl"))[0].LoadImage();
        Assert.Equal(32, image.Width);
        Assert.Equal(4, model.Processor.PlaceholdersFor([image]));
    }
}

using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>The tiny SmolVLM student of <see cref="TinyRecipe.WriteSmolVlm"/>.</summary>
public sealed class TinySmolVlmStudent() : TinyStudent(TinyRecipe.WriteSmolVlm(Folder("smolvlm")));

/// <summary>
/// The training runs of <see cref="VlmTrainingTests"/> with a SmolVLM (Idefics3) student: the real SmolVLM tokenizer and
/// chat template, &lt;image&gt; tokens wrapped in &lt;fake_token_around_image&gt;&lt;global-img&gt;, a pixel-shuffle
/// connector; the decoder under model.text_model.
/// </summary>
public sealed class SmolVlmTrainingTests(TinySmolVlmStudent student)
    : VlmTrainingTests(student.Tiny, "idefics3", "model.text_model."), IClassFixture<TinySmolVlmStudent>
{
    [Fact]
    public void The_student_folder_is_a_smolvlm_checkpoint_whose_images_take_four_image_tokens()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Tiny.ModelDirectory, "config.json")))!;
        Assert.Equal("idefics3", (string)config["model_type"]!);
        Assert.True(File.Exists(Path.Combine(Tiny.ModelDirectory, "chat_template.json")), "the SmolVLM chat template should travel with the model");
        var model = Models.ChatModel.Load(Tiny.ModelDirectory);
        var image = Data.JsonlDataset.Load(Path.Combine(Tiny.SuiteDirectory, "train.jsonl"))[0].LoadImage();
        Assert.Equal(32, image.Width);
        Assert.Equal(4, model.Processor.PlaceholdersFor([image]));
        var smol = Assert.IsType<Models.Families.SmolVlm.SmolVlmProcessor>(model.Processor);
        Assert.Equal((0, 0), smol.Grid(image));   // one unsplit tile
        var prompt = smol.EncodeChat([Ril.Text.ChatMessage.User("What is shown?", 1)], [image]);
        var tokenizer = model.Processor.Tokenizer;
        Assert.Equal(4, prompt.Count(id => id == tokenizer.SpecialTokenId("<image>")));
        Assert.Equal(1, prompt.Count(id => id == tokenizer.SpecialTokenId("<global-img>")));
        Assert.Equal(2, prompt.Count(id => id == tokenizer.SpecialTokenId("<fake_token_around_image>")));
    }
}

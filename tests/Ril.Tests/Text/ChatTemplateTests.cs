using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>ChatML formatting and image placeholders, checked against Qwen's real tokenizer.</summary>
public class ChatTemplateTests
{
    [Fact]
    public void Formats_ChatML_with_a_generation_prompt()
    {
        var text = new ChatTemplate().Format([ChatMessage.System("You are a helpful assistant."), ChatMessage.User("What is 2+2?")]);
        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void A_default_system_prompt_fills_in_only_when_none_is_given()
    {
        var template = new ChatTemplate { DefaultSystemPrompt = "Be brief." };
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n",
            template.Format([ChatMessage.User("hi")], addGenerationPrompt: false));
        Assert.StartsWith("<|im_start|>system\nOwn.<|im_end|>\n<|im_start|>user", template.Format([ChatMessage.System("Own."), ChatMessage.User("hi")]));
    }

    [Fact]
    public void Images_expand_to_start_placeholders_end()
    {
        var template = new ChatTemplate { ImagePlaceholderCount = 3 };
        var text = template.Format([ChatMessage.User("How many circles?", images: 1)]);
        Assert.Equal("<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>How many circles?<|im_end|>\n<|im_start|>assistant\n", text);
        // MAYE writes "<image>" in the question itself.
        Assert.Contains("Find x.<|vision_start|><|image_pad|>", template.Format([new ChatMessage("user", "Find x.<image>")]));
        Assert.Equal(2, template.CountImages("<image>a<image>"));
        var single = new ChatTemplate { ImageStart = "", ImageEnd = "", ImagePlaceholder = "<image>" };
        Assert.Equal("<image>", single.ImageText());
        Assert.Throws<ArgumentException>(() => new ChatTemplate { ImagePlaceholderCount = 0 }.ImageText());
    }

    [Fact]
    public void Encodes_with_Qwen_control_tokens_as_single_ids()
    {
        var qwen = TokenizerFixtures.Qwen;
        var template = new ChatTemplate { ImagePlaceholderCount = 4 };
        var ids = template.Encode(qwen, [ChatMessage.User("Count the squares.", images: 1)]);
        Assert.Equal(qwen.SpecialTokenId("<|im_start|>"), ids[0]);
        Assert.Equal(4, ids.Count(id => id == template.ImagePlaceholderId(qwen)));
        Assert.Equal(151645, template.TurnEndId(qwen));
        Assert.Equal([151644, 77091, 198], ids[^3..]); // "<|im_start|>", "assistant", "\n"
        Assert.Equal(template.Format([ChatMessage.User("Count the squares.", images: 1)]), qwen.Decode(ids));
    }

    [Fact]
    public void A_tokenizer_without_the_control_tokens_is_refused_by_name()
    {
        var bare = BpeTrainer.Train(["plain text"], new BpeTrainerOptions { VocabSize = 256, SpecialTokens = [] }).ToTokenizer("bare.json");
        var e = Assert.Throws<KeyNotFoundException>(() => new ChatTemplate().Encode(bare, [ChatMessage.User("hi")]));
        Assert.Contains("<|im_start|>", e.Message);
    }

    [Fact]
    public void An_image_marker_already_in_the_question_places_the_image_and_none_is_added()
    {
        Assert.Equal("<image>Find x.", ChatMessage.User("<image>Find x.", images: 1).Content);
        Assert.Equal("<image>Compare <image> with this.", ChatMessage.User("Compare <image> with this.", images: 2).Content);
        Assert.Equal("<image>No image here.", ChatMessage.User("<image>No image here.").Content);
    }
}

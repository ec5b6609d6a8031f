using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Tests.Data;

namespace Ril.Tests.Models;

/// <summary>
/// A row with two images through every processor's prompt (ChatModel.Prompt(row), the one way evaluation, RL and SFT
/// render a question): one run of image placeholders per image, each run sized to its own image, in the order of the
/// question's &lt;image&gt; markers, with the pixels in the same order.
/// </summary>
public sealed class MultiImagePromptTests
{
    /// <summary>Ril's own layout (ChatML, fixed placeholders per image), Qwen2-VL, Qwen3-VL, SmolVLM.</summary>
    public static TheoryData<string> Checkpoints => new(["vlm-tiny", "qwen2-vl-tiny", "qwen3-vl-tiny", "smolvlm-tiny"]);

    // Two images of different shapes, so that processors that size placeholders by the image give them different counts.
    static readonly Image Wide = Pattern(96, 32, 1), Small = Pattern(20, 24, 2);

    static Image Pattern(int width, int height, int seed)
    {
        var image = new Image(width, height, 3);
        for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] = (byte)(i * seed * 37 % 251);
        return image;
    }

    static DatasetRow Row(string question) => new("two", question, "1", null, null, new JsonObject(), "two.jsonl", 1)
    {
        Images = [new RowImage(PngEncoder.Encode(Wide), null), new RowImage(PngEncoder.Encode(Small), null)], ImageColumn = "images",
    };

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void Two_images_get_their_placeholders_in_the_order_of_the_markers(string checkpoint)
    {
        // vlm-tiny's folder holds weights only: Ril's layout is built here on the fixture tokenizer, as the suite's students are.
        var chat = checkpoint == "vlm-tiny" ? TinyModels.SuiteStudent(hidden: 32, layers: 1, seed: 1).Policy
            : ChatModel.Load(Path.Combine(RepoPaths.Fixtures, "models", checkpoint), frozen: true);
        Assert.True(chat.AcceptsImages);
        int placeholder = chat.Model.ImageTokenId;

        var (prompt, pixels) = chat.Prompt(Row("Compare <image> with <image>: which is taller?"));
        var runs = Runs(prompt, placeholder);
        // SmolVLM writes several runs per image (one per tile and the global view): group them by image below.
        int wide = chat.Processor.PlaceholdersFor([Wide]), small = chat.Processor.PlaceholdersFor([Small]);
        Assert.Equal(wide + small, runs.Sum(r => r.Length));
        Assert.True(wide != small || checkpoint == "vlm-tiny", $"{checkpoint}: the two images should need different counts ({wide}, {small})");
        var text = chat.Tokenizer.Decode(prompt);
        int compare = text.IndexOf("Compare", StringComparison.Ordinal), with = text.IndexOf(" with ", StringComparison.Ordinal), taller = text.IndexOf(": which is taller?", StringComparison.Ordinal);
        Assert.True(compare >= 0 && with > compare && taller > with, text);
        // The placeholders between "Compare" and "with" are the wide image's, those after "with" the small one's.
        int withToken = TokenAt(chat, prompt, " with "), tallerToken = TokenAt(chat, prompt, ": which");
        Assert.Equal(wide, prompt[..withToken].Count(id => id == placeholder));
        Assert.Equal(small, prompt[withToken..tallerToken].Count(id => id == placeholder));
        Assert.Equal(chat.Pixels([Wide, Small])!.Values.ToArray(), pixels!.Values.ToArray());
        Assert.NotEqual(chat.Pixels([Small, Wide])!.Values.ToArray(), pixels.Values.ToArray());

        // Without markers the images go before the text, in the row's order: as if the question began with both markers.
        var (before, _) = chat.Prompt(Row("Which is taller?"));
        Assert.Equal(chat.Prompt(Row("<image><image>Which is taller?")).Prompt, before);
        Assert.Equal(wide + small, before[..TokenAt(chat, before, "Which")].Count(id => id == placeholder));

        // A marker count that is neither zero nor the images' count is the row's error.
        var error = Assert.Throws<DataFormatException>(() => chat.Prompt(Row("Only <image> one marker")));
        Assert.StartsWith("two.jsonl:1: the question has 1 <image> marker(s) but the row has 2 image(s) in 'images'", error.Message);
    }

    /// <summary>Runs of consecutive placeholder ids.</summary>
    static List<int[]> Runs(int[] ids, int placeholder)
    {
        var runs = new List<int[]>();
        for (int i = 0; i < ids.Length; i++)
        {
            if (ids[i] != placeholder) continue;
            int start = i;
            while (i < ids.Length && ids[i] == placeholder) i++;
            runs.Add(ids[start..i]);
        }
        return runs;
    }

    /// <summary>The index of the first token whose decoded prefix reaches <paramref name="text"/>'s start.</summary>
    static int TokenAt(ChatModel chat, int[] ids, string text)
    {
        int at = chat.Tokenizer.Decode(ids).IndexOf(text, StringComparison.Ordinal);
        Assert.True(at >= 0, $"'{text}' is not in the prompt");
        for (int k = 0; k <= ids.Length; k++)
            if (chat.Tokenizer.Decode(ids.AsSpan(0, k)).Length > at) return k - 1;
        return ids.Length;
    }
}

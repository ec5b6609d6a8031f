using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>An image placeholder id belongs to prompts: a response never samples it, and one inside a response (teacher text) is a plain token.</summary>
public class ImageTokenInResponseTests
{
    [Fact]
    public void Generation_never_samples_the_image_placeholder()
    {
        var config = new DecoderConfig { VocabSize = 30, HiddenSize = 16, IntermediateSize = 24, NumLayers = 1, NumHeads = 2 };
        var text = new DecoderLM(config, new Rng(4));
        var rng = new Rng(5);
        foreach (var p in text.Parameters()) if (p.Rank == 2) rng.FillNormal(p.Data, 0.5f);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 6 };
        var free = new Generator(new VisionLanguageModel(new VlmConfig { Text = config, ImageTokenId = -1 }, text, null, null)).Generate([new GenerationRequest([1, 2, 3])], options)[0][0];
        int favourite = free.TokenIds[0];
        var banned = new Generator(new VisionLanguageModel(new VlmConfig { Text = config, ImageTokenId = favourite }, text, null, null)).Generate([new GenerationRequest([1, 2, 3])], options)[0][0];
        Assert.DoesNotContain(favourite, banned.TokenIds);
    }

    [Fact]
    public void A_placeholder_inside_a_response_is_scored_as_text()
    {
        var tokenizer = BpeTokenizer.Load(Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json"));
        int image = tokenizer.SpecialTokenId("<|image_pad|>");
        var text = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 32, IntermediateSize = 48, NumLayers = 1, NumHeads = 2 };
        var vision = new VisionConfig { HiddenSize = 16, IntermediateSize = 16, NumLayers = 1, NumHeads = 2, ImageSize = 8, PatchSize = 2 };
        var policy = RilVlmFamily.Chat(VisionLanguageModel.Create(text, vision, 2, image, new Rng(1)), tokenizer);
        var prompt = policy.Prompt("What is shown?", hasImage: true);
        var pixels = Tensor.Randn(new Rng(2), 1f, 1, 3, 8, 8);
        int[] response = [.. tokenizer.Encode("a <|image_pad|> b"), .. policy.StopTokens.Take(1)];
        Assert.Contains(image, response);
        using var _ = NoGrad.Begin();
        var (logp, _) = ResponseLogProbs.Compute(policy, [new ResponseLogProbs.Row(prompt, pixels, response)], response.Length);
        Assert.All(logp.ToArray(), v => Assert.True(float.IsFinite(v)));
    }
}

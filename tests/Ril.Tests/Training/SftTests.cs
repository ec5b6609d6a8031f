using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

public class SftTests
{
    [Fact]
    public void Sft_memorises_answers_and_only_response_tokens_are_targets()
    {
        var tokenizer = BpeTokenizer.Load(Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json"));
        var config = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 48, IntermediateSize = 96, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2 };
        var policy = RilVlmFamily.Chat(VisionLanguageModel.Create(config, null, 1, -1, new Rng(2)), tokenizer);
        string[] questions = ["How many red shapes?", "What colour is the star?", "Sum of the numbers?"];
        string[] answers = ["There are \\boxed{3}.", "It is \\boxed{blue}.", "The sum is \\boxed{12}."];
        var examples = questions.Select((q, i) => new SftExample(policy.Prompt(q, false), null, SftTrainer.ResponseTokens(policy, answers[i]))).ToList();
        var sft = new SftTrainer(policy, new AdamW(policy.Parameters().ToList(), 3e-3f, 0f));
        float first = sft.Step(examples), last = first;
        for (int i = 0; i < 120; i++) last = sft.Step(examples);
        Assert.True(last < 0.05f * first, $"loss {first:F3} → {last:F3}");

        var generator = new Generator(policy.Model, ids => policy.Decode(ids), policy.PadId);
        var outputs = generator.Generate(examples.Select(e => new GenerationRequest(e.PromptIds)).ToList(),
            new SamplingOptions { Temperature = 0, MaxNewTokens = 24, StopTokens = policy.StopTokens });
        for (int i = 0; i < answers.Length; i++) Assert.Equal(answers[i], outputs[i][0].Text);
    }
}

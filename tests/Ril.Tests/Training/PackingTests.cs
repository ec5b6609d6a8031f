using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>Packed rows (several sequences end to end, each attending to itself) against one padded row per sequence.</summary>
public class PackingTests
{
    /// <summary>Six examples of the suite's student, with images, prompts and responses of different lengths.</summary>
    static (ChatModel Policy, List<SftExample> Examples) SixExamples()
    {
        var (policy, config) = TinyModels.SuiteStudent(hidden: 32, layers: 2, seed: 3);
        var rng = new Rng(4);
        string[] questions = ["How many stars?", "What colour is the largest shape in the picture on the left?", "Sum?", "Which bar is tallest?", "Count the circles.", "Is it red?"];
        string[] answers = ["\\boxed{3}", "The largest shape is a square and it is \\boxed{blue}.", "\\boxed{12}", "Bars: 3, 5, 2, so \\boxed{B}.", "One, two: \\boxed{2}", "\\boxed{no}"];
        var examples = questions.Select((q, i) => new SftExample(policy.Prompt(q, hasImage: i != 2),
            i != 2 ? Tensor.Randn(rng, 1f, 1, 3, config.Vision!.ImageSize, config.Vision.ImageSize) : null,
            SftTrainer.ResponseTokens(policy, answers[i]))).ToList();
        return (policy, examples);
    }

    [Fact]
    public void Packing_fills_rows_no_longer_than_the_longest_sequence()
    {
        var (policy, examples) = SixExamples();
        var rows = examples.Select(e => new ResponseLogProbs.Row(e.PromptIds, e.Pixels, e.Response)).ToList();
        int maxLen = rows.Max(r => r.Response.Length);
        var packed = ResponseLogProbs.Layout.Packed(policy, rows, maxLen).Inputs;
        var padded = ResponseLogProbs.Layout.Padded(policy, rows, maxLen).Inputs;
        int longest = rows.Max(r => r.PromptIds.Length + r.Response.Length);
        Assert.Equal(longest, packed.Ids.Length / packed.Rows);
        Assert.True(packed.Rows < rows.Count, $"{rows.Count} sequences of {string.Join(", ", rows.Select(r => r.PromptIds.Length + r.Response.Length))} tokens took {packed.Rows} rows of {longest}");
        Assert.True(packed.Ids.Length < padded.Ids.Length);
        Assert.Equal(rows.Sum(r => r.PromptIds.Length + r.Response.Length), packed.Valid.Count(v => v));
        // Every sequence is whole and contiguous in one row, its positions counting from 0.
        for (int i = 0; i < rows.Count; i++)
        {
            var at = Enumerable.Range(0, packed.Ids.Length).Where(j => packed.Segments![j] == i).ToList();
            Assert.Equal(at[0] / longest, at[^1] / longest);
            Assert.Equal(Enumerable.Range(at[0], at.Count), at);
            Assert.Equal(Enumerable.Range(0, at.Count), at.Select(j => packed.Positions[j]));
            Assert.Equal([.. rows[i].PromptIds, .. rows[i].Response], at.Select(j => packed.Ids[j]));
        }
        Assert.Equal(5, packed.Pixels!.Values.Shape[0]);
        Assert.Equal(5 * policy.Vlm().TokensPerImage, packed.ImageSlots.Count);
    }

    [Fact]
    public void Shared_prompts_are_laid_once_with_each_response_after_them_at_its_own_positions()
    {
        var (policy, examples) = SixExamples();
        // Three responses to the first example's prompt (with its image), one to the third's (text only).
        var rows = new[] { 0, 2, 0, 0 }.Select((e, i) => new ResponseLogProbs.Row(examples[e].PromptIds, examples[e].Pixels,
            examples[(e + i) % examples.Count].Response)).ToList();
        int maxLen = rows.Max(r => r.Response.Length);
        var layout = ResponseLogProbs.Layout.SharedPrompts(policy, rows, maxLen);
        var inputs = layout.Inputs;
        var prompt = rows[0].PromptIds;
        Assert.Equal(prompt.Length + rows[0].Response.Length + rows[2].Response.Length + rows[3].Response.Length, inputs.Ids.Length / inputs.Rows);
        Assert.Equal(prompt.Length + rows.Where((_, i) => i != 1).Sum(r => r.Response.Length) + rows[1].PromptIds.Length + rows[1].Response.Length,
            inputs.Valid.Count(v => v));
        Assert.Equal(1, inputs.Pixels!.Values.Shape[0]);                                               // the shared image once (the third example has none)
        Assert.Equal(policy.Vlm().TokensPerImage, inputs.ImageSlots.Count);
        var padded = ResponseLogProbs.Layout.Padded(policy, rows, maxLen);
        foreach (int i in new[] { 0, 2, 3 })
        {
            var at = Enumerable.Range(0, inputs.Ids.Length).Where(j => inputs.Segments![j] == i).ToList();
            Assert.Equal(rows[i].Response, at.Select(j => inputs.Ids[j]));
            Assert.All(at, j => Assert.NotEqual(-1, inputs.Prefixes![j]));
            // The positions it would have right after its own copy of the prompt, and its first token read at the prompt's end.
            Assert.Equal(Enumerable.Range(prompt.Length, at.Count), at.Select(j => inputs.Positions[j]));
            int promptEnd = Enumerable.Range(0, inputs.Ids.Length).Last(j => inputs.Segments![j] == inputs.Prefixes![at[0]]);
            Assert.Equal(promptEnd, layout.Gather[i * maxLen]);
            Assert.Equal(at[0], layout.Gather[i * maxLen + 1]);
            Assert.Equal(padded.Targets[(i * maxLen)..((i + 1) * maxLen)], layout.Targets[(i * maxLen)..((i + 1) * maxLen)]);
        }
        Assert.Equal(-1, inputs.Prefixes![Array.IndexOf(inputs.Segments!, 1)]);                       // a prompt alone is laid as packing lays it
    }

    [Fact]
    public void Packed_and_padded_sft_give_the_same_loss_and_gradients()
    {
        (float Loss, float[][] Grads) Step(bool pack)
        {
            var (policy, examples) = SixExamples();
            var parameters = policy.Parameters().ToList();
            var loss = new SftTrainer(policy, new AdamW(parameters, 1e-3f, 0f), pack: pack).Loss(examples);
            loss.Backward();
            return (loss.Item(), parameters.Select(p => p.Grad?.ToArray() ?? new float[p.Length]).ToArray());
        }
        var padded = Step(pack: false);
        var packed = Step(pack: true);
        Assert.Equal(padded.Loss, packed.Loss, 5);
        for (int p = 0; p < padded.Grads.Length; p++)
        {
            float scale = Math.Max(1e-3f, padded.Grads[p].Max(Math.Abs));
            for (int i = 0; i < padded.Grads[p].Length; i++)
                Assert.True(Math.Abs(padded.Grads[p][i] - packed.Grads[p][i]) <= 1e-4f * scale,
                    $"parameter {p}, element {i}: {padded.Grads[p][i]} padded vs {packed.Grads[p][i]} packed");
        }
        Assert.Contains(padded.Grads, g => g.Any(x => x != 0f));
    }
}

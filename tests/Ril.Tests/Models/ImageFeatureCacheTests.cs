using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;
using Ril.Tests.Data;
using Ril.Training;

namespace Ril.Tests.Models;

/// <summary>
/// An RL step reads each question's images in several passes (the rollouts' prefill, π_old, π_ref, the update) and in
/// rows of the same question; with an <see cref="ImageFeatureCache"/> open the tower encodes each question once, and the
/// log-probs are those of encoding every row afresh. A tower that trains is encoded afresh where a gradient must reach it.
/// </summary>
public sealed class ImageFeatureCacheTests
{
    public static TheoryData<string> Checkpoints => new(TinyModels.ImageCheckpoints);

    const int L = 5;

    static ChatModel Load(string checkpoint) => TinyModels.FixtureChat(checkpoint);

    static Image Pattern(int width, int height, int seed)
    {
        var image = new Image(width, height, 3);
        for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] = (byte)(i * seed * 37 % 251);
        return image;
    }

    /// <summary>Two questions with an image each, three responses per question, in the order of a trajectory.</summary>
    static List<ResponseLogProbs.Row> Rows(ChatModel chat)
    {
        var rng = new Rng(3);
        var rows = new List<ResponseLogProbs.Row>();
        foreach (var (image, q) in new[] { (Pattern(40, 28, 1), 1), (Pattern(28, 36, 2), 2) })
        {
            var row = new DatasetRow($"q{q}", $"What is shown in picture {q}?", "1", null, null, new JsonObject(), "cache.jsonl", q)
            {
                Images = [new RowImage(PngEncoder.Encode(image), null)], ImageColumn = "images",
            };
            var (prompt, pixels) = chat.Prompt(row);
            for (int s = 0; s < 3; s++)
                rows.Add(new ResponseLogProbs.Row(prompt, pixels, Enumerable.Range(0, L - s).Select(_ => 1 + rng.NextInt(200)).ToArray()));
        }
        return rows;
    }

    static float[] LogProbs(ChatModel chat, IReadOnlyList<ResponseLogProbs.Row> rows, bool pack = false)
    {
        using var scope = TensorScope.Begin();
        return ResponseLogProbs.Compute(chat, rows, L, pack: pack).LogProbs.ToArray();
    }

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void Each_questions_images_are_encoded_once_and_give_the_log_probs_of_encoding_every_row(string checkpoint)
    {
        var chat = Load(checkpoint);
        var rows = Rows(chat);
        float[] fresh;
        using (NoGrad.Begin()) fresh = LogProbs(chat, rows);

        using (var cache = ImageFeatureCache.Begin())
        using (NoGrad.Begin())
        {
            // Micro-batches of two rows (one straddles the questions), then every row packed, then the reference model.
            var micro = rows.Chunk(2).SelectMany(part => LogProbs(chat, part)).ToArray();
            var packed = LogProbs(chat, rows, pack: true);
            LogProbs(new ChatModel(chat.Model.BaseView(), chat.Processor), rows);
            Assert.Equal(2, cache.Encodings);
            Close(rows, fresh, micro, $"{checkpoint}: micro-batches read from the cache");
            Close(rows, fresh, packed, $"{checkpoint}: packed rows read from the cache");
        }
    }

    /// <summary>Log-probs of the responses' tokens (the slots past a response's end hold nothing) within 1e-5.</summary>
    static void Close(List<ResponseLogProbs.Row> rows, float[] expected, float[] actual, string what)
    {
        var valid = Enumerable.Range(0, rows.Count * L).Where(i => i % L < rows[i / L].Response.Length).ToArray();
        double worst = ParityMetric.WorstRelative(valid.Select(i => actual[i]).ToArray(), valid.Select(i => expected[i]).ToArray());
        Assert.True(worst <= 1e-5, $"{what}: worst relative difference {worst:G3}");
    }

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void A_tower_that_trains_gets_its_gradient_and_a_frozen_one_reads_the_cache(string checkpoint)
    {
        var chat = Load(checkpoint);
        var rows = Rows(chat);
        var tower = chat.Model.Parameters().Except(chat.Model.DecoderParameters()).ToList();
        Assert.NotEmpty(tower);
        foreach (var p in chat.Model.Parameters()) p.RequiresGrad = true;

        using (var cache = ImageFeatureCache.Begin())
        {
            using (NoGrad.Begin()) LogProbs(chat, rows);                      // π_old fills the cache
            using (var scope = TensorScope.Begin())
                Ops.SumAll(ResponseLogProbs.Compute(chat, rows, L).LogProbs).Backward();
            Assert.Equal(2, cache.Encodings);                                 // the update encoded afresh, outside the cache
            Assert.Contains(tower, p => p.Grad is not null && p.Grad.ToArray().Any(g => g != 0));
        }

        foreach (var p in chat.Model.Parameters()) p.ZeroGrad();
        foreach (var p in tower) p.RequiresGrad = false;
        using (var cache = ImageFeatureCache.Begin())
        {
            using (NoGrad.Begin()) LogProbs(chat, rows);
            using (var scope = TensorScope.Begin())
                Ops.SumAll(ResponseLogProbs.Compute(chat, rows, L).LogProbs).Backward();
            Assert.Equal(2, cache.Encodings);                                 // the update read the frozen tower's features
            Assert.Contains(chat.Model.DecoderParameters(), p => p.Grad is not null && p.Grad.ToArray().Any(g => g != 0));
        }
    }
}

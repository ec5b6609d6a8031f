using Ril.Data;
using Ril.Data.Images;
using Ril.Data.Synth;
using Ril.Models;
using Ril.Models.Families.RilVlm;
using Ril.Models.Generation;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// `ril sft` as a library call: a fresh tiny VLM trained on the built-in suite's gold solutions or on one teacher's cached
/// responses, written as a model directory that <see cref="ChatModel.Load"/> reads back.
/// </summary>
public sealed class SftRunTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-sft-").FullName;
    static readonly string Tokenizer = Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string WriteSuite(int trainRows)
    {
        var suite = Path.Combine(_dir, "suite");
        SuiteWriter.Write(suite, new SuiteOptions(Seed: 1, TrainRows: trainRows, ValRows: 0, TestRows: 0, ImageSize: 32));
        return Path.Combine(suite, "train.jsonl");
    }

    SftRunOptions Tiny(string data, string outDir, int steps) => new()
    {
        Init = "tiny", TokenizerPath = Tokenizer, DataPath = data, OutDir = outDir, Steps = steps, BatchSize = 8, LearningRate = 3e-3f, Seed = 3,
    };

    /// <summary>The presets differ by image size only: tiny-48 reads 48-pixel images as 9 image tokens, one per cell of the suite's 3 × 3 scenes.</summary>
    [Fact]
    public void Presets_set_the_image_grid_and_unknown_ones_are_listed()
    {
        var tokenizer = BpeTokenizer.Load(Tokenizer);
        var tiny = ModelPresets.Create("tiny", tokenizer, Tokenizer);
        var grid = ModelPresets.Create("tiny-48", tokenizer, Tokenizer);
        Assert.Equal((32, 48), (tiny.Vision!.ImageSize, grid.Vision!.ImageSize));
        Assert.Equal(9, VisionLanguageModel.Create(grid, new Ril.Tensors.Rng(1)).TokensPerImage);
        var error = Assert.Throws<ArgumentException>(() => ModelPresets.Create("huge", tokenizer, Tokenizer));
        Assert.Contains("'huge'", error.Message);
        Assert.Contains("tiny, tiny-48", error.Message);
    }

    [Fact]
    public void Gold_solutions_lower_the_loss_and_the_model_directory_loads()
    {
        var data = WriteSuite(trainRows: 32);
        var outDir = Path.Combine(_dir, "student");
        var steps = new List<SftProgress>();
        var result = SftRun.Run(Tiny(data, outDir, steps: 40), steps.Add);

        Assert.Equal(40, steps.Count);
        Assert.Equal(32, result.Examples);
        Assert.True(result.FinalLoss < 0.6f * result.FirstLoss, $"loss {result.FirstLoss:F3} → {result.FinalLoss:F3}");
        Assert.True(steps[0].LearningRate < steps[5].LearningRate && steps[^1].LearningRate < steps[5].LearningRate, "warm-up, then decay");
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.json"], Directory.GetFiles(outDir).Select(Path.GetFileName).Order());
        Assert.False(Directory.Exists(outDir + ".tmp"));

        var chat = ChatModel.Load(outDir);
        chat.CheckTemplate();
        Assert.True(chat.AcceptsImages);
        Assert.Equal(4, ((VisionLanguageModel)chat.Model).TokensPerImage);

        // A second run never writes over the first, and says so before training.
        var again = Assert.Throws<IOException>(() => SftRun.Run(Tiny(data, outDir, steps: 1)));
        Assert.Contains(outDir, again.Message);
        Assert.Contains("not empty", again.Message);
    }

    [Fact]
    public void Packed_rows_train_as_padded_ones_do()
    {
        // Gold solutions with a short teacher reply beside each: lengths differ, so packing has rows to share.
        var data = WriteSuite(trainRows: 16);
        var rows = JsonlDataset.Load(data);
        var cachePath = Path.Combine(_dir, "short.jsonl");
        new TeacherCache().Append(cachePath, rows.SelectMany(r => new[]
        {
            new TeacherResponse(r.Id, "gold", r.Solution!, []), new TeacherResponse(r.Id, "short", $"\\boxed{{{r.Answer}}}", []),
        }));
        List<float> Losses(bool pack)
        {
            var losses = new List<float>();
            SftRun.Run(Tiny(data, Path.Combine(_dir, pack ? "packed" : "padded"), steps: 15) with { TeachersPath = cachePath, Pack = pack }, p => losses.Add(p.Loss));
            return losses;
        }
        var padded = Losses(pack: false);
        var packed = Losses(pack: true);
        for (int i = 0; i < padded.Count; i++)
            Assert.True(Math.Abs(padded[i] - packed[i]) <= 1e-3f * padded[i], $"step {i + 1}: loss {padded[i]} padded, {packed[i]} packed");
        Assert.True(padded[^1] < 0.8f * padded[0], $"loss {padded[0]} → {padded[^1]}: the runs compared must learn");
    }

    [Fact]
    public void Teacher_mode_imitates_only_the_named_teacher()
    {
        var data = WriteSuite(trainRows: 8);
        var rows = JsonlDataset.Load(data);
        // Two teachers with unmistakable replies: one fixed sentence each, whatever the question.
        const string alpha = "First I look. \\boxed{7}", beta = "Beta never looks. \\boxed{0}";
        var cachePath = Path.Combine(_dir, "teachers.jsonl");
        new TeacherCache().Append(cachePath, rows.SelectMany(r => new[]
        {
            new TeacherResponse(r.Id, "alpha", alpha, []), new TeacherResponse(r.Id, "beta", beta, []),
        }));

        var chosen = SftRun.TeacherResponses(rows, cachePath, ["alpha"], data);
        Assert.Equal(rows.Count, chosen.Count);
        Assert.All(chosen, t => Assert.Equal(alpha, t.Text));
        Assert.Equal(2 * rows.Count, SftRun.TeacherResponses(rows, cachePath, [], data).Count);
        var unknown = Assert.Throws<ArgumentException>(() => SftRun.TeacherResponses(rows, cachePath, ["gamma"], data));
        Assert.Contains("'gamma'", unknown.Message);
        Assert.Contains("alpha, beta", unknown.Message);

        var outDir = Path.Combine(_dir, "alpha-student");
        var result = SftRun.Run(Tiny(data, outDir, steps: 40) with { TeachersPath = cachePath, Teachers = ["alpha"] });
        Assert.Equal(rows.Count, result.Examples);

        var chat = ChatModel.Load(outDir);
        var row = rows[0];
        var prompt = chat.EncodeChat([ChatMessage.User(row.Question, images: 1)]);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 24, StopTokens = chat.StopTokens };
        var reply = chat.NewGenerator().Generate([chat.Request(prompt, [ImageFile.Load(row.ImagePath!)])], options)[0][0];
        Assert.Equal(alpha, reply.Text);
    }
}

using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Tensors;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// SFT on conversation datasets (messages): the whole conversation rendered through the model's chat template, the loss
/// on the assistant turns' tokens only (content and end-of-turn token), images in any user turn.
/// </summary>
public sealed class ConversationSftTests : IDisposable
{
    static readonly string Chats = Path.Combine(RepoPaths.Fixtures, "parquet", "conversations");
    readonly string _dir = Directory.CreateTempSubdirectory("ril-chat-sft-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>Ril's ChatML layout, Qwen2-VL's processor, and SmolVLM's checkpoint template.</summary>
    public static TheoryData<string> Checkpoints => new(["vlm-tiny", "qwen2-vl-tiny", "smolvlm-tiny"]);

    // vlm-tiny's folder holds weights only: Ril's layout is built here on the fixture tokenizer, as the suite's students are.
    static ChatModel Load(string checkpoint) => checkpoint == "vlm-tiny" ? TinyModels.SuiteStudent(hidden: 32, layers: 1, seed: 1).Policy
        : ChatModel.Load(Path.Combine(RepoPaths.Fixtures, "models", checkpoint));

    /// <summary>The trained tokens of an example, decoded run by run (special tokens kept).</summary>
    static List<string> TrainedRuns(ChatModel chat, SftExample example)
    {
        var runs = new List<string>();
        for (int t = 0; t < example.Response.Length; t++)
        {
            if (!example.Trained![t]) continue;
            int start = t;
            while (t < example.Response.Length && example.Trained[t]) t++;
            runs.Add(chat.Tokenizer.Decode(example.Response.AsSpan(start, t - start)));
        }
        return runs;
    }

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void Only_the_assistant_turns_are_trained_each_through_its_end_of_turn_token(string checkpoint)
    {
        var chat = Load(checkpoint);
        var rows = DatasetSource.Load(Path.Combine(Chats, "chat.parquet"));
        var stop = chat.Tokenizer.Decode([chat.StopTokens[0]]);
        string[][] expected = [["Red."], ["Two.", "Three."], ["Four."]];
        for (int r = 0; r < rows.Count; r++)
        {
            var example = SftTrainer.Conversation(chat, rows[r]);
            var runs = TrainedRuns(chat, example);
            Assert.Equal(expected[r].Length, runs.Count);
            for (int k = 0; k < runs.Count; k++)
            {
                Assert.Equal(expected[r][k], runs[k][..^stop.Length].Trim());
                Assert.EndsWith(stop, runs[k]);
            }
            // Everything else (system and user turns, the template's openings) is context: it appears untrained.
            var untrained = chat.Tokenizer.Decode(example.Response.Where((_, t) => !example.Trained![t]).ToArray());
            Assert.DoesNotContain("Two.", untrained);
            if (r == 1) Assert.Contains("And in this picture?", untrained);
            Assert.Equal(rows[r].Images.Count > 0, example.ImagesInResponse);
            Assert.Equal(rows[r].Images.Count, (example.Pixels?.Grids.Count is > 0 ? example.Pixels.Grids.Count : example.Pixels?.Values.Shape[0]) ?? 0);
        }
    }

    [Theory]
    [MemberData(nameof(Checkpoints))]
    [InlineData("qwen3-vl-tiny")]
    public void The_loss_of_a_conversation_is_that_of_its_assistant_turns_as_separate_examples(string checkpoint)
    {
        var chat = Load(checkpoint);
        var row = DatasetSource.Load(Path.Combine(Chats, "chat.jsonl"))[1];   // two exchanges, the image in the second user turn
        var conversation = SftTrainer.Conversation(chat, row);

        // Independently: each assistant turn as a prompt (the conversation before it, opened for the assistant) and its
        // reply: the text the template writes after that opening, through the end-of-turn token (found in the rendered
        // text, not by token prefixes); pooled, the same tokens averaged.
        var images = row.LoadImages();
        var stop = chat.Tokenizer.Decode([chat.StopTokens[0]]);
        SftExample Turn(int upTo, int imageCount)
        {
            var shown = images.Take(imageCount).ToList();
            var before = row.Messages!.Take(upTo).ToList();
            var prompt = chat.Processor.ExpandImages(chat.EncodeChat(before), shown);
            string opened = chat.Processor.Render(before), through = chat.Processor.Render(row.Messages!.Take(upTo + 1).ToList(), addGenerationPrompt: false);
            Assert.StartsWith(opened, through);
            var reply = through[opened.Length..];
            return new SftExample(prompt, chat.Pixels(shown), chat.Tokenizer.Encode(reply[..(reply.IndexOf(stop, StringComparison.Ordinal) + stop.Length)]));
        }
        var separate = new[] { Turn(2, 0), Turn(4, 1) };
        var trainer = new SftTrainer(chat, new Ril.Tensors.Optim.Sgd(chat.Parameters().ToList(), 0f));
        float together = trainer.Loss([conversation]).Item(), apart = trainer.Loss(separate).Item();
        Assert.True(Math.Abs(together - apart) < 1e-4f * Math.Abs(apart), $"{checkpoint}: conversation {together}, separate turns {apart}");

        // Packed as SFT packs (--pack): the same loss.
        var packed = new SftTrainer(chat, new Ril.Tensors.Optim.Sgd(chat.Parameters().ToList(), 0f), pack: true);
        var other = SftTrainer.Conversation(chat, DatasetSource.Load(Path.Combine(Chats, "chat.jsonl"))[0]);
        Assert.True(Math.Abs(trainer.Loss([conversation, other]).Item() - packed.Loss([conversation, other]).Item()) < 1e-4f);
    }

    [Fact]
    public void Sft_runs_on_conversations_in_jsonl_and_in_parquet()
    {
        foreach (var file in new[] { "chat.jsonl", "chat.parquet" })
        {
            var progress = new List<SftProgress>();
            var result = SftRun.Run(new SftRunOptions
            {
                Init = "tiny", TokenizerPath = TinyModels.TokenizerPath, DataPath = Path.Combine(Chats, file),
                OutDir = Path.Combine(_dir, file), Steps = 3, BatchSize = 2, LearningRate = 3e-3f, Seed = 1,
            }, progress.Add);
            Assert.Equal(3, result.Examples);
            Assert.Equal(3, progress.Count);
            Assert.All(progress, p => Assert.True(float.IsFinite(p.Loss) && p.Loss > 0, $"{file}: loss {p.Loss}"));
            Assert.True(File.Exists(Path.Combine(_dir, file, "model.safetensors")));
        }
        // Conversations train on their own turns: a teacher cache has nothing to add.
        var error = Assert.Throws<DataFormatException>(() => SftRun.Run(new SftRunOptions
        {
            Init = "tiny", TokenizerPath = TinyModels.TokenizerPath, DataPath = Path.Combine(Chats, "chat.jsonl"),
            OutDir = Path.Combine(_dir, "teachers"), TeachersPath = Path.Combine(_dir, "none.jsonl"), Steps = 1,
        }));
        Assert.Contains("--teachers", error.Message);
    }
}

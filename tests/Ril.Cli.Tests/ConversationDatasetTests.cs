namespace Ril.Cli.Tests;

/// <summary>
/// Conversation datasets (messages, OpenAI/Hugging Face style) on the command line: `ril sft` trains a few steps on the
/// JSONL and the Parquet twin (tests/fixtures/parquet/conversations), and `ril data check` / `data show` recognise them;
/// `data check` counts a split file by file and decodes every image, JSONL rows' too, within the decoders' bounds.
/// </summary>
public sealed class ConversationDatasetTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-chat-cli-").FullName;
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "conversations", name);
    static string Tokenizer => Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer.json");

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Theory]
    [InlineData("chat.jsonl")]
    [InlineData("chat.parquet")]
    public void Sft_trains_on_a_conversation_dataset(string file)
    {
        var model = Path.Combine(_dir, "model");
        var result = Processes.Run([.. Processes.Ril, "sft", "--init", "tiny", "--tokenizer", Tokenizer, "--data", Fixture(file), "--out", model,
            "--steps", "3", "--batch-size", "2"]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("the conversations' assistant turns of", result.StandardOutput);
        Assert.Contains("3 examples", result.StandardOutput);
        Assert.True(File.Exists(Path.Combine(model, "model.safetensors")), result.Output);
    }

    [Fact]
    public void Data_check_and_show_recognise_conversations()
    {
        var check = Processes.Run([.. Processes.Ril, "data", "check", Fixture("chat.jsonl"), Fixture("chat.parquet"), "--rows", "1"]);
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("(split chat): 3 rows, 2 with images (2 decoded), 3 conversations", check.StandardOutput);
        Assert.Contains("a conversation of 2 turns", check.StandardOutput);
        Assert.Contains("  image:    6x4, 3 channels", check.StandardOutput);

        var show = Processes.Run([.. Processes.Ril, "data", "show", Fixture("chat.parquet"), "--rows", "2"]);
        Assert.True(show.ExitCode == 0, show.Output);
        Assert.Contains("chat/1 (chat.parquet: row group 0, row 1): a conversation of 5 turns", show.StandardOutput);
        Assert.Contains("  system:   Answer in one word.", show.StandardOutput);
        Assert.Contains("  user:     <image>And in this picture?", show.StandardOutput);
        Assert.Contains("  image:    5x5, 3 channels", show.StandardOutput);
    }

    [Fact]
    public void Data_check_counts_each_file_of_a_split_and_decodes_jsonl_images_within_the_bounds()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "fixtures", "geometry3k", "data");
        var check = Processes.Run([.. Processes.Ril, "data", "check", folder, "--question-key", "problem", "--rows", "1"]);
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("(split data): 9 rows (test-00000-of-00001.parquet 3, train-00000-of-00001.parquet 6), 9 with images (9 decoded)", check.StandardOutput);
        Assert.Contains("  image:    32x32, 3 channels", check.StandardOutput);

        // A PNG whose header claims 100000×100000 pixels (its chunks' CRCs right), named by a JSONL row: refused by the
        // decoders' bound, with the row's line.
        Directory.CreateDirectory(Path.Combine(_dir, "img"));
        var png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgABhqAAAYagCAIAAAAnMJyfAAAAEElEQVR4nGNgZGIGIgYIBQAArgAZhy4cnQAAAABJRU5ErkJggg==");
        File.WriteAllBytes(Path.Combine(_dir, "img", "huge.png"), png);
        File.WriteAllLines(Path.Combine(_dir, "rows.jsonl"), ["{\"question\": \"q\", \"answer\": \"1\"}", "{\"question\": \"<image>q\", \"answer\": \"1\", \"image\": \"img/huge.png\"}"]);
        var bad = Processes.Run([.. Processes.Ril, "data", "check", Path.Combine(_dir, "rows.jsonl")]);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("rows.jsonl:2: field 'image': ", bad.Output);
        Assert.Contains("image too large: 100000×100000", bad.Output);
    }
}

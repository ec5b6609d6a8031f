using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>
/// `ril generate` on the tiny Qwen2-VL checkpoint (tests/fixtures/models/qwen2-vl-tiny, copied beside the tests) with an
/// image: prints the greedy continuation that tests/fixtures/make_qwen2vl_fixtures.py's float64 reference produced for
/// the same chat prompt (cli_generate.json).
/// </summary>
public sealed class Qwen2VlGenerateTests
{
    static string ModelDir => Path.Combine(AppContext.BaseDirectory, "fixtures", "qwen2-vl-tiny");

    [Fact]
    public void Generate_with_an_image_prints_the_references_greedy_continuation()
    {
        var expected = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(ModelDir, "cli_generate.json")))!;
        var result = Processes.Run([.. Processes.Ril, "generate", "--model", ModelDir,
            "--image", Path.Combine(ModelDir, (string)expected["image"]!), "--prompt", (string)expected["prompt"]!,
            "--temperature", "0", "--max-new-tokens", ((int)expected["max_new_tokens"]!).ToString()]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal((string)expected["text"]! + "\n", result.StandardOutput);
    }
}

using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>
/// `ril generate` with an image on the tiny Qwen2-VL, Qwen3-VL and Qwen3.5 checkpoints (tests/fixtures/models, copied
/// beside the tests): prints the greedy continuation that the float64 references (make_qwen2vl_fixtures.py,
/// make_qwen3vl_fixtures.py, make_qwen35_fixtures.py) produced for the same chat prompt (cli_generate.json) — Qwen2-VL's
/// ChatML with its default system turn, Qwen3-VL's and Qwen3.5's own chat_template.jinja without one (Qwen3.5's with an
/// empty think block); Qwen3.5 decodes with its hybrid cache.
/// </summary>
public sealed class QwenVlGenerateTests
{
    [Theory]
    [InlineData("qwen2-vl-tiny")]
    [InlineData("qwen3-vl-tiny")]
    [InlineData("qwen3.5-tiny")]
    public void Generate_with_an_image_prints_the_references_greedy_continuation(string checkpoint)
    {
        var modelDir = Path.Combine(AppContext.BaseDirectory, "fixtures", checkpoint);
        var expected = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, "cli_generate.json")))!;
        var result = Processes.Run([.. Processes.Ril, "generate", "--model", modelDir,
            "--image", Path.Combine(modelDir, (string)expected["image"]!), "--prompt", (string)expected["prompt"]!,
            "--temperature", "0", "--max-new-tokens", ((int)expected["max_new_tokens"]!).ToString()]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal((string)expected["text"]! + "\n", result.StandardOutput);
    }
}

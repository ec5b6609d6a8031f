using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>
/// `ril generate` over the tiny SmolVLM checkpoint (tests/fixtures/models/smolvlm-tiny) with an image that splits into
/// tiles: it prints the greedy reply that tests/fixtures/make_smolvlm_fixtures.py's float64 reference computed.
/// </summary>
public sealed class SmolVlmGenerateTests
{
    [Fact]
    public void Generate_prints_the_references_greedy_reply_to_an_image_and_a_prompt()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "fixtures", "smolvlm-tiny");
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "generate.json")))!;
        var result = Processes.Run([.. Processes.Ril, "generate", "--model", dir, "--image", Path.Combine(dir, (string)expected["image"]!),
            "--prompt", (string)expected["prompt"]!, "--temperature", "0", "--max-new-tokens", expected["max_new_tokens"]!.ToString()]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal((string)expected["text"]!, result.StandardOutput.TrimEnd('\n', '\r'));
    }
}

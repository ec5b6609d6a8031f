using System.Text.Json.Nodes;
using Ril.Tests.Data;
using Ril.Text.Jinja;

namespace Ril.Tests.Text.Jinja;

/// <summary>
/// Thousands of small templates (tests/fixtures/chat_templates/engine_cases.json, written by make_expected.py) must
/// render as Python's jinja2 rendered them, or fail with its message: random nestings of blocks, prints and comments
/// under every whitespace marker, and every operator, filter, test and member access over a set of values.
/// </summary>
public class EngineParityTests
{
    static readonly Lazy<JsonObject> Cases = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "chat_templates", "engine_cases.json")))!.AsObject());

    [Theory]
    [InlineData("whitespace", 400)]
    [InlineData("expressions", 5000)]
    public void Small_templates_render_like_jinja2(string group, int atLeast)
    {
        var cases = Cases.Value[group]!.AsArray();
        Assert.True(cases.Count >= atLeast, $"{cases.Count} cases");
        var failures = new List<string>();
        foreach (var c in cases)
        {
            var source = (string)c!["source"]!;
            string rendered;
            try { rendered = Template.Parse(source, "case.jinja").Render(new Dictionary<string, object?>()); }
            catch (TemplateException e) { rendered = "error: " + e.Reason; }
            var expected = (string?)c["output"] ?? "error: " + (string)c["error"]!;
            if (rendered != expected) failures.Add($"{JsonValue.Create(source)}\n  jinja2: {JsonValue.Create(expected)}\n  Ril:    {JsonValue.Create(rendered)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} differ:\n" + string.Join("\n", failures.Take(20)));
    }
}

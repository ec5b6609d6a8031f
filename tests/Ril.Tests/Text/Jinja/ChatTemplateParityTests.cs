using System.Text.Json.Nodes;
using Ril.Tests.Data;
using Ril.Text.Jinja;

namespace Ril.Tests.Text.Jinja;

/// <summary>
/// Real chat templates (tests/fixtures/chat_templates/*.jinja, listed with their sources in templates.json) rendered
/// over every conversation of expected.json, with and without the generation prompt, must give exactly what Python's
/// jinja2 gave (make_expected.py, set up as transformers' apply_chat_template) — or fail with the same message.
/// </summary>
public class ChatTemplateParityTests
{
    static string Folder => Path.Combine(RepoPaths.Fixtures, "chat_templates");
    static readonly Lazy<JsonObject> Expected = new(() => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json")))!.AsObject());
    static readonly Lazy<JsonArray> Manifest = new(() => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "templates.json")))!["templates"]!.AsArray());

    public static TheoryData<string> TemplateFiles()
    {
        var data = new TheoryData<string>();
        foreach (var t in Manifest.Value) data.Add((string)t!["file"]!);
        return data;
    }

    [Fact]
    public void The_fixtures_cover_at_least_20_templates_with_at_least_5_conversations_each()
    {
        var files = Directory.GetFiles(Folder, "*.jinja").Select(Path.GetFileName).Order().ToList();
        Assert.True(files.Count >= 20, $"{files.Count} templates");
        Assert.Equal(files, Manifest.Value.Select(t => (string?)t!["file"]).Order().ToList());
        var conversations = Expected.Value["conversations"]!.AsArray().Count;
        Assert.True(conversations >= 5, $"{conversations} conversations");
        foreach (var file in files)
        {
            var cases = Cases(file!).ToList();
            Assert.Equal(conversations * 2, cases.Count);
            Assert.Contains(cases, c => c["output"] != null);   // every template renders something, not only errors
        }
    }

    [Theory]
    [MemberData(nameof(TemplateFiles))]
    public void Renders_like_jinja2(string file)
    {
        var spec = Manifest.Value.Single(t => (string?)t!["file"] == file)!;
        var template = HfChatTemplate.Parse(File.ReadAllText(Path.Combine(Folder, file)), file, (string?)spec["bos_token"], (string?)spec["eos_token"]);
        var clock = DateTime.Parse((string)Expected.Value["clock"]!, System.Globalization.CultureInfo.InvariantCulture);
        template.Clock = () => clock;
        var conversations = Expected.Value["conversations"]!.AsArray().ToDictionary(c => (string)c!["name"]!, c => c!);
        var failures = new List<string>();
        foreach (var expected in Cases(file))
        {
            var conversation = conversations[(string)expected["conversation"]!];
            string label = $"{file} × {expected["conversation"]} (add_generation_prompt={expected["add_generation_prompt"]})";
            string? output = null, error = null;
            try
            {
                output = template.Apply(conversation["messages"]!.DeepClone().AsArray(),
                    (bool)expected["add_generation_prompt"]!, conversation["context"]!.DeepClone().AsObject());
            }
            catch (TemplateException e) { error = e.Reason; }

            var wantedOutput = (string?)expected["output"];
            var wantedError = (string?)expected["error"];
            if (wantedOutput != null && output != wantedOutput)
                failures.Add($"{label}: expected\n{Show(wantedOutput)}\ngot {(error != null ? "error " + error : "\n" + Show(output!))}");
            else if (wantedError != null && error != wantedError)
                failures.Add($"{label}: expected the error \"{wantedError}\", got {(error != null ? $"\"{error}\"" : "\n" + Show(output!))}");
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    static IEnumerable<JsonObject> Cases(string file) =>
        Expected.Value["cases"]!.AsArray().Select(c => c!.AsObject()).Where(c => (string?)c["template"] == file);

    static string Show(string s) => JsonValue.Create(s).ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Models.Families.Qwen35;
using Ril.Models.Families.RilVlm;
using Ril.Models.Families.SmolVlm;
using Ril.Tests.Data;

namespace Ril.Tests.Models;

/// <summary>
/// A seeded fuzz of every family's config.json parser: each field of the fixtures' configs, one or two at a time, takes
/// a hostile value (negative, zero, huge, another JSON type, null). Parsing either succeeds or fails with one line naming
/// the file — never another exception, never a stack trace. (Parsing allocates nothing that the config sizes.)
/// </summary>
public sealed class ConfigFuzzTests
{
    static readonly JsonNode?[] Hostile = [-1, 0, 1e30, 2147483647, -2147483648, 0.5, "x", "", null, true, new JsonArray(), new JsonObject(), new JsonArray(1, 2)];

    static readonly string[] Checkpoints = ["vlm-tiny", "qwen2-tiny", "llama-tied-tiny", "qwen2-vl-tiny", "qwen2.5-vl-tiny", "qwen3-vl-tiny", "qwen3.5-tiny", "smolvlm-tiny"];

    static void Parse(JsonObject json, string path)
    {
        switch (ModelFamilies.Of(json, path))
        {
            case LlamaFamily: DecoderConfig.Parse(json.ToJsonString(), path); break;
            case RilVlmFamily: RilVlmFamily.ParseConfig(json, path); break;
            case Qwen2VlFamily: Qwen2VlConfig.Parse(json, path); break;
            case Qwen3VlFamily: Qwen3VlConfig.Parse(json, path); break;
            case Qwen35Family when json["text_config"] is null: Qwen35Config.ParseText(json, path); break;
            case Qwen35Family: Qwen35Config.Parse(json, path); break;
            case SmolVlmFamily: SmolVlmConfig.Parse(json, path); break;
            default: throw new InvalidOperationException("a family this fuzz does not know: add its parser here");
        }
    }

    [Fact]
    public void Hostile_values_in_any_field_fail_with_one_line_naming_the_file()
    {
        var rng = new Random(20261203);
        int refused = 0;
        foreach (var name in Checkpoints)
        {
            var path = Path.Combine(RepoPaths.Fixtures, "models", name, "config.json");
            var original = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            Parse(original, path);   // the fixture itself parses
            var slots = Ril.Tests.Hostile.Fuzz.Slots(original).Count;
            for (int trial = 0; trial < 400; trial++)
            {
                var json = original.DeepClone().AsObject();
                for (int edits = rng.Next(1, 3); edits > 0; edits--)
                {
                    var all = Ril.Tests.Hostile.Fuzz.Slots(json);
                    var (parent, key) = all[rng.Next(all.Count)];
                    var value = Hostile[rng.Next(Hostile.Length)]?.DeepClone();
                    if (key is string k && k == "model_type") continue;   // another family's parser is that family's fuzz
                    if (parent is JsonObject o) o[(string)key] = value; else ((JsonArray)parent)[(int)key] = value;
                }
                try { Parse(json, path); }
                catch (Exception e) when (e is InvalidDataException or ArgumentException)
                {
                    refused++;
                    Assert.Contains("config.json", e.Message);
                    Assert.DoesNotContain("\n", e.Message);
                }
                catch (Exception e)
                {
                    Assert.Fail($"{name}: {e.GetType().Name}: {e.Message}\nconfig: {json.ToJsonString()}");
                }
            }
            Assert.True(slots > 5);
        }
        Assert.True(refused > 100, $"only {refused} mutations were refused: the fuzz is not reaching the checks");
    }
}

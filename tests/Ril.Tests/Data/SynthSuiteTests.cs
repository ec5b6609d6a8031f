using System.Diagnostics;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Data.Synth;

namespace Ril.Tests.Data;

/// <summary>
/// The built-in suite at its default size. One fixture writes it once (it takes seconds); the tests
/// read it back as training would and check every row against an answer recomputed here, from the
/// stored scene description alone, by code independent of the generator's solvers.
/// </summary>
public sealed class DefaultSuite : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("ril-suite-").FullName;
    public TimeSpan Elapsed { get; }
    public Dictionary<string, List<DatasetRow>> Splits { get; } = [];

    public DefaultSuite()
    {
        var clock = Stopwatch.StartNew();
        SuiteWriter.Write(Directory, new SuiteOptions(Seed: 7));
        Elapsed = clock.Elapsed;
        foreach (var split in new[] { "train", "val", "test_ood" })
            Splits[split] = JsonlDataset.Load(Path.Combine(Directory, split + ".jsonl"));
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, true);
}

public class SynthSuiteTests(DefaultSuite suite) : IClassFixture<DefaultSuite>
{
    [Fact]
    public void Default_suite_has_the_promised_sizes_and_takes_under_a_minute()
    {
        Assert.Equal(5000, suite.Splits["train"].Count);
        Assert.Equal(300, suite.Splits["val"].Count);
        Assert.Equal(300, suite.Splits["test_ood"].Count);
        Assert.True(suite.Elapsed < TimeSpan.FromMinutes(1), $"took {suite.Elapsed}");
        Console.WriteLine($"suite of 5,600 rows written in {suite.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(5600, System.IO.Directory.GetFiles(Path.Combine(suite.Directory, "images"), "*.png").Length);
    }

    /// <summary>The answer from the scene description, by code that shares nothing with the generator.</summary>
    static string Recompute(JsonObject scene, JsonObject p)
    {
        string? P(string key) => p[key]?.GetValue<string>();
        var objects = scene["objects"]?.AsArray().Select(o => o!.AsObject()).ToList() ?? [];
        bool Matches(JsonObject o, string? colour, string? shape, string? size) =>
            (colour == null || (string)o["colour"]! == colour) && (shape == null || (string)o["shape"]! == shape) && (size == null || (string)o["size"]! == size);
        int Count(string? colour, string? shape, string? size = null) => objects.Count(o => Matches(o, colour, shape, size));
        var numbers = scene["numbers"]?.AsArray().Select(n => (int)n!["value"]!).ToList() ?? [];
        var bars = scene["bars"]?.AsArray().ToDictionary(b => (string)b!["label"]!, b => (int)b!["value"]!) ?? [];

        switch (P("family"))
        {
            case "count_colour" or "count_shape" or "count_colour_shape" or "count_size":
                return Count(P("colour"), P("shape"), P("size")).ToString();
            case "remove_count":
                return (objects.Count - Count(P("colour"), P("shape"))).ToString();
            case "add_count":
                return (Count(P("colour"), P("shape")) + (int)p["amount"]!).ToString();
            case "compare_count":
                int a = P("shape") != null ? Count(null, P("shape")) : Count(P("colour"), null);
                int b = P("shape") != null ? Count(null, P("other_shape")) : Count(P("other_colour"), null);
                return a > b ? "yes" : "no";
            case "spatial_colour" or "spatial_shape":
            {
                var row = objects.OrderBy(o => (double)o["x"]!).ToList();
                var reference = row.Single(o => P("family") == "spatial_colour" ? (string)o["shape"]! == P("shape") : (string)o["colour"]! == P("colour"));
                var neighbour = row[row.IndexOf(reference) + (P("direction") == "left" ? -1 : 1)];
                return (string)neighbour[P("family") == "spatial_colour" ? "colour" : "shape"]!;
            }
            case "digit_sum": return numbers.Sum().ToString();
            case "digit_difference": return (numbers.Max() - numbers.Min()).ToString();
            case "bar_value": return bars[P("label")!].ToString();
            case "bar_tallest": return bars.Single(kv => kv.Value == bars.Values.Max()).Key;
            case "bar_difference": return (bars[P("label")!] - bars[P("other_label")!]).ToString();
            default: throw new InvalidOperationException($"no oracle for family {P("family")}");
        }
    }

    [Theory]
    [InlineData("train")]
    [InlineData("val")]
    [InlineData("test_ood")]
    public void Every_gold_answer_is_right_on_the_re_rendered_scene(string split)
    {
        foreach (var row in suite.Splits[split])
        {
            var scene = row.Extra["scene"]!.AsObject();
            Assert.Equal(Recompute(scene, row.Extra["params"]!.AsObject()), row.Answer);
            Assert.EndsWith($"\\boxed{{{row.Answer}}}.", row.Solution);

            // The PNG on disk is exactly the rendering of the stored description...
            var onDisk = row.LoadImage();
            var rendered = SceneRenderer.Render(Scene.FromJson(scene));
            Assert.True(rendered.SamePixels(onDisk), $"{row.Id}: image differs from its re-rendered scene");
            // ...and the rendering shows what the description says.
            CheckPicture(scene, onDisk, row.Id);
        }
    }

    static Rgb ColourNamed(JsonNode? name) => SceneRenderer.ColourOf(Words.ParseColour((string)name!));

    static void CheckPicture(JsonObject scene, Image image, string id)
    {
        int size = (int)scene["image_size"]!;
        Assert.Equal((size, size), (image.Width, image.Height));
        foreach (var o in scene["objects"]?.AsArray() ?? [])
        {
            var colour = ColourNamed(o!["colour"]);
            var (r, g, b) = image.Rgb((int)((double)o["x"]! * size), (int)((double)o["y"]! * size));
            Assert.True((r, g, b) == (colour.R, colour.G, colour.B), $"{id}: the centre of the {o["colour"]} {o["shape"]} is ({r},{g},{b})");
        }
        foreach (var n in scene["numbers"]?.AsArray() ?? [])
        {
            var colour = ColourNamed(n!["colour"]);
            Assert.True(image.Pixels.Chunk(3).Count(p => p[0] == colour.R && p[1] == colour.G && p[2] == colour.B) >= 10,
                $"{id}: the number {n["value"]} is not drawn in {n["colour"]}");
        }
        var bars = scene["bars"]?.AsArray();
        if (bars != null)
        {
            int axisMax = (int)scene["axis_max"]!;
            double unit = (SceneRenderer.ChartBottom - SceneRenderer.ChartTop) / axisMax * size;
            for (int i = 0; i < bars.Count; i++)
            {
                var (left, right) = SceneRenderer.BarSpan(i, bars.Count);
                int x = (int)((left + right) / 2 * size), value = (int)bars[i]!["value"]!;
                var colour = ColourNamed(bars[i]!["colour"]);
                bool Filled(double v) => image.Rgb(x, (int)(SceneRenderer.ChartBottom * size - v * unit)) == (colour.R, colour.G, colour.B);
                Assert.True(Filled(value - 0.5), $"{id}: bar {bars[i]!["label"]} is lower than {value}");
                Assert.False(Filled(value + 0.5), $"{id}: bar {bars[i]!["label"]} is higher than {value}");
            }
        }
    }

    [Fact]
    public void Every_family_appears_in_every_split()
    {
        foreach (var (split, rows) in suite.Splits)
            Assert.Equal(QuestionFamily.All.Select(f => f.Name).Order(), rows.Select(r => (string)r.Extra["family"]!).Distinct().Order());
    }

    static IEnumerable<(string Colour, string Shape)> Pairs(DatasetRow row) =>
        (row.Extra["scene"]!["objects"]?.AsArray() ?? []).Select(o => ((string)o!["colour"]!, (string)o["shape"]!));

    static bool HeldOut((string Colour, string Shape) pair) =>
        SplitProfile.HeldOut.Any(h => Words.Of(h.Colour) == pair.Colour && Words.Of(h.Shape) == pair.Shape);

    [Fact]
    public void Test_ood_holds_out_pairs_and_counts_that_training_never_sees()
    {
        var train = suite.Splits["train"].Concat(suite.Splits["val"]).ToList();
        var test = suite.Splits["test_ood"];
        Assert.DoesNotContain(train.SelectMany(Pairs), HeldOut);
        Assert.DoesNotContain(train, r => SplitProfile.HeldOut.Any(h => r.Question.Contains($"{h.Colour.ToString().ToLowerInvariant()} {h.Shape.ToString().ToLowerInvariant()}")));
        Assert.All(test.Where(r => r.Extra["scene"]!["objects"] != null), r => Assert.Contains(Pairs(r), HeldOut));

        int ObjectCount(DatasetRow r) => r.Extra["scene"]!["objects"]?.AsArray().Count ?? 0;
        var gridRows = (string split) => suite.Splits[split].Where(r => (string)r.Extra["scene"]!["kind"]! == "shapes");
        Assert.True(gridRows("train").Max(ObjectCount) < gridRows("test_ood").Min(ObjectCount));
        int MaxNumeric(IEnumerable<DatasetRow> rows) => rows.Select(r => int.TryParse(r.Answer, out var v) ? v : 0).Max();
        Assert.True(MaxNumeric(test) > MaxNumeric(train), "test_ood should need larger numbers than training");
        // Validation is the training distribution: same families, counts and no held-out pairs.
        Assert.True(gridRows("val").Max(ObjectCount) <= gridRows("train").Max(ObjectCount));
    }

    [Fact]
    public void Answers_use_a_small_vocabulary()
    {
        var answers = suite.Splits.Values.SelectMany(r => r).Select(r => r.Answer).Distinct().ToList();
        var words = new HashSet<string> { "yes", "no", "A", "B", "C", "D" };
        words.UnionWith(Enum.GetValues<Colour>().Select(Words.Of));
        words.UnionWith(Enum.GetValues<Shape>().Select(Words.Of));
        Assert.All(answers, a => Assert.True(words.Contains(a) || (int.TryParse(a, out var v) && v is >= 0 and <= 30), a));
        Assert.True(answers.Count < 60);
    }

    [Fact]
    public void Generation_is_deterministic_by_seed()
    {
        var a = SuiteWriter.GenerateRow(7, "train", 123, 64);
        var b = SuiteWriter.GenerateRow(7, "train", 123, 64);
        Assert.Equal(a.ToJsonLine(), b.ToJsonLine());
        Assert.Equal(a.ToJsonLine(), JsonlDataset.ToJsonLine(suite.Splits["train"][123]));
        Assert.NotEqual(a.ToJsonLine(), SuiteWriter.GenerateRow(8, "train", 123, 64).ToJsonLine());
        Assert.Equal(PngEncoder.Encode(SceneRenderer.Render(a.Scene)), PngEncoder.Encode(SceneRenderer.Render(b.Scene)));
    }

    [Fact]
    public void Scenes_render_at_other_sizes()
    {
        var row = SuiteWriter.GenerateRow(1, "test_ood", 10, 96);
        var image = SceneRenderer.Render(row.Scene);
        Assert.Equal((96, 96, 3), (image.Width, image.Height, image.Channels));
        Assert.Equal(row.Scene.ToJson().ToJsonString(), Scene.FromJson(row.Scene.ToJson()).ToJson().ToJsonString());
    }
}

using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Data.Synth;

public sealed record SuiteOptions(int Seed, int TrainRows = 5000, int ValRows = 300, int TestRows = 300, int ImageSize = 64)
{
    public void Validate()
    {
        if (TrainRows < 0 || ValRows < 0 || TestRows < 0) throw new ArgumentException("row counts must not be negative");
        if (ImageSize is < 32 or > 1024) throw new ArgumentException($"image size must be 32–1024 pixels, got {ImageSize}");
    }
}

/// <summary>One generated question with everything behind it.</summary>
public sealed record SuiteRow(string Id, string Split, QuestionFamily Family, Scene Scene, QuestionSpec Spec, string Question, Reasoning Reasoning)
{
    public string Answer => Reasoning.Answer;
    public string Solution => GoldSolution.Write(Reasoning);
    public string ImageFile => $"images/{Id}.png";

    /// <summary>MAYE's fields plus family, split, params and scene.</summary>
    public string ToJsonLine() => JsonlDataset.ToJsonLine(Id, Question, Answer, Solution, ImageFile, new JsonObject
    {
        ["family"] = Family.Name,
        ["split"] = Split,
        ["params"] = Spec.ToJson(),
        ["scene"] = Scene.ToJson(),
    });
}

public sealed record SuiteSummary(string Directory, IReadOnlyDictionary<string, int> RowsPerSplit, TimeSpan Elapsed);

/// <summary>
/// The built-in visual reasoning suite (`ril data synth`): train, val (same distribution) and
/// test_ood (held-out colour–shape pairs, larger counts), as MAYE-format JSONL plus PNGs. Every row is
/// a pure function of (seed, split, index), so the output is identical however many threads render it.
/// </summary>
public static class SuiteWriter
{
    public static readonly IReadOnlyList<(string Name, SplitProfile Profile, int SplitNumber)> Splits =
        [("train", SplitProfile.Train, 1), ("val", SplitProfile.Val, 2), ("test_ood", SplitProfile.TestOod, 3)];

    public static SuiteRow GenerateRow(int seed, string split, int index, int imageSize)
    {
        var (_, profile, splitNumber) = Splits.Single(s => s.Name == split);
        var random = new Random(StableSeed.Mix(seed, splitNumber, index));
        // Families take turns, so every split is balanced across them; the offset varies the order between seeds.
        var family = QuestionFamily.All[(index + seed) % QuestionFamily.All.Count];
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            var scene = SceneGenerator.For(family.SceneKind, random, profile, imageSize);
            if (family.Choose(scene, random, profile) is not { } spec) continue;
            if (family.Solve(scene, spec) is not { } reasoning) continue;
            return new SuiteRow($"{split}_{index:D5}", split, family, scene, spec, family.Text(spec), reasoning);
        }
        throw new InvalidOperationException($"could not pose a '{family.Name}' question for {split} row {index}");
    }

    public static SuiteSummary Write(string directory, SuiteOptions options, Action<string>? log = null)
    {
        options.Validate();
        var clock = Stopwatch.StartNew();
        var images = Path.Combine(directory, "images");
        Directory.CreateDirectory(images);
        var counts = new Dictionary<string, int>();
        foreach (var (split, _, _) in Splits)
        {
            int n = split switch { "train" => options.TrainRows, "val" => options.ValRows, _ => options.TestRows };
            var rows = new SuiteRow[n];
            Parallel.For(0, n, i =>
            {
                rows[i] = GenerateRow(options.Seed, split, i, options.ImageSize);
                // Fastest is deterministic too, and at these sizes only a few percent larger than Optimal.
                File.WriteAllBytes(Path.Combine(directory, rows[i].ImageFile),
                    PngEncoder.Encode(SceneRenderer.Render(rows[i].Scene), CompressionLevel.Fastest));
            });
            var temporary = Path.Combine(directory, split + ".jsonl.tmp");
            using (var writer = new StreamWriter(temporary, false, new UTF8Encoding(false)))
                foreach (var row in rows) writer.Write(row.ToJsonLine() + "\n");
            File.Move(temporary, Path.Combine(directory, split + ".jsonl"), overwrite: true);
            counts[split] = n;
            log?.Invoke($"{split}: {n} rows");
        }
        File.WriteAllText(Path.Combine(directory, "suite.json"), new JsonObject
        {
            ["generator"] = "ril data synth",
            ["seed"] = options.Seed,
            ["image_size"] = options.ImageSize,
            ["rows"] = new JsonObject(counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["families"] = new JsonArray(QuestionFamily.All.Select(f => (JsonNode)f.Name).ToArray()),
            ["held_out_pairs"] = new JsonArray(SplitProfile.HeldOut.Select(p => (JsonNode)$"{Words.Of(p.Colour)} {Words.Of(p.Shape)}").ToArray()),
        }.ToJsonString(new() { WriteIndented = true }) + "\n");
        return new SuiteSummary(directory, counts, clock.Elapsed);
    }
}

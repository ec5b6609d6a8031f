using System.Text.Json.Nodes;
using Ril.Data;

namespace Ril.Tests.Data;

/// <summary>The loader on MAYE's real files in tests/fixtures/maye (shipped without their images).</summary>
public class JsonlDatasetTests
{
    static string Maye(string name) => Path.Combine(RepoPaths.MayeData, name);

    [Theory]
    [InlineData("geometry3k_rl_v0.jsonl", 2101)]
    [InlineData("geometry3k_validation_v0.jsonl", 300)]
    [InlineData("geometry3k_test_v0.jsonl", 601)]
    [InlineData("math_verse_test_v0.jsonl", 100)]
    [InlineData("mm_math_validation_v0.jsonl", 100)]
    public void Real_files_load_text_only_with_the_right_row_counts(string file, int rows)
    {
        var loaded = JsonlDataset.Load(Maye(file), ImageMode.TextOnly);
        Assert.Equal(rows, loaded.Count);
        Assert.All(loaded, r =>
        {
            Assert.False(string.IsNullOrEmpty(r.Id));
            Assert.False(string.IsNullOrEmpty(r.Question));
            Assert.NotNull(r.Answer);
            Assert.Contains("\\boxed{", r.Solution);
            Assert.NotNull(r.ImageField);
            Assert.Null(r.ImagePath);
            Assert.True(r.Extra.ContainsKey("think_solution"));
        });
        Assert.Equal(Enumerable.Range(1, rows), loaded.Select(r => r.LineNumber));
    }

    [Fact]
    public void Field_values_are_read_exactly()
    {
        var rl = JsonlDataset.Load(Maye("geometry3k_rl_v0.jsonl"), ImageMode.TextOnly);
        var first = rl[0];
        Assert.Equal("geometry3k_1106", first.Id);
        Assert.Equal("<image>Find x. Round to the nearest tenth, if necessary.", first.Question);
        Assert.Equal("11", first.Answer);
        Assert.Equal("\\boxed{11}", first.Solution);
        Assert.Equal("geometry3k_images/geometry3k_1106.png", first.ImageField);
        Assert.Equal("\\boxed{11}", first.Extra["think_solution"]!.GetValue<string>());
        Assert.Single(first.Extra);
        var last = rl[^1];
        Assert.Equal("geometry3k_1073", last.Id);
        Assert.Equal("\\frac { 3 } { 2 }", last.Answer);

        var test = JsonlDataset.Load(Maye("geometry3k_test_v0.jsonl"), ImageMode.TextOnly);
        Assert.Equal("geometry3k_2948", test[0].Id);
        Assert.Equal("20", test[0].Answer);
        Assert.Equal(7, test[0].Extra["difficulty"]!.GetValue<int>());
        Assert.Equal("Qwen2.5_VL_Instruct_7B", test[0].Extra["difficulty_source"]!.GetValue<string>());

        var verse = JsonlDataset.Load(Maye("math_verse_test_v0.jsonl"), ImageMode.TextOnly);
        Assert.Equal("mathverse_0", verse[0].Id);
        Assert.Equal("19", verse[0].Answer);
        Assert.Equal("mathverse_images/0.png", verse[0].ImageField);
        Assert.Equal("mathverse_99", verse[^1].Id);

        var mm = JsonlDataset.Load(Maye("mm_math_validation_v0.jsonl"), ImageMode.TextOnly);
        Assert.Equal("0804385e-de0f-41f0-8eef-fea2ae3bcf39", mm[0].Id);
        Assert.Equal("5", mm[0].Answer);
        Assert.Equal("medium", mm[0].Extra["difficult"]!.GetValue<string>());
        Assert.Equal("Properties of Shapes", mm[0].Extra["knowledge"]!["level_1"]!.GetValue<string>());
        Assert.StartsWith("\\textbf{Solution}: Given that in $\\triangle ABC$", mm[0].Solution);
        Assert.EndsWith("=\\boxed{5}$.", mm[0].Solution);
    }

    [Fact]
    public void Missing_images_are_an_error_naming_both_paths_and_the_way_out()
    {
        var e = Assert.Throws<DataFormatException>(() => JsonlDataset.Load(Maye("geometry3k_validation_v0.jsonl")));
        Assert.StartsWith("geometry3k_validation_v0.jsonl:1: field 'image': image file 'geometry3k_images/geometry3k_2375.png' not found", e.Message);
        Assert.Contains(Path.Combine(RepoPaths.MayeData, "geometry3k_images", "geometry3k_2375.png"), e.Message);
        Assert.Contains("--text-only", e.Message);
        Assert.Equal(1, e.Line);
        Assert.Equal("image", e.Field);
    }

    static string WriteTemp(string name, IEnumerable<string> lines)
    {
        var dir = Directory.CreateTempSubdirectory("ril-data-").FullName;
        var path = Path.Combine(dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void A_corrupted_line_fails_with_its_line_number()
    {
        var lines = File.ReadAllLines(Maye("geometry3k_rl_v0.jsonl"));
        var broken = (string[])lines.Clone();
        broken[16] = broken[16][..40]; // line 17 cut in half
        var path = WriteTemp("geometry3k_rl_v0.jsonl", broken);
        try
        {
            var e = Assert.Throws<DataFormatException>(() => JsonlDataset.Load(path, ImageMode.TextOnly));
            Assert.StartsWith("geometry3k_rl_v0.jsonl:17: invalid JSON", e.Message);
            Assert.Equal(17, e.Line);
            // Streaming: the 16 good rows before it are delivered first.
            Assert.Equal(16, JsonlDataset.Read(path, ImageMode.TextOnly).Take(16).Count());
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }

    [Theory]
    [InlineData("{\"question\": {\"a\": 5}, \"answer\": \"1\", \"id\": \"a\"}", "field 'question': expected text or a number, found a struct")]
    [InlineData("{\"answer\": \"1\", \"id\": \"a\"}", "field 'question': missing (name the question field with --question-key")]
    [InlineData("{\"question\": \"q\", \"answer\": [1], \"id\": \"a\"}", "field 'answer': expected text or a number, found a list")]
    [InlineData("{\"question\": \"q\", \"answer\": null, \"id\": \"a\"}", "field 'answer': missing (null)")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"a\", \"images\": [3]}", "field 'images[0]': expected a string")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"a\", \"image\": \"data:image/png;base64,AAAA\"}", "field 'image': the image's bytes are neither PNG nor JPEG")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"a\", \"image\": \"https://example.com/a.png\"}", "field 'image': 'https://example.com/a.png' is a web address")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"a\", \"image\": 3}", "field 'image': expected a string")]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"a\", \"image\": \"../../etc/passwd\"}", "field 'image': '../../etc/passwd' is outside the dataset's folder")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"a\", \"image\": \"/etc/passwd\"}", "field 'image': '/etc/passwd' is outside the dataset's folder")]
    [InlineData("{\"question\": \"q\", \"answer\": \"1\", \"id\": \"first\"}", "field 'id': duplicate id 'first'")]
    public void Bad_fields_are_named(string badLine, string expected)
    {
        var path = WriteTemp("rows.jsonl", ["{\"question\": \"q\", \"answer\": 7, \"id\": \"first\"}", "", badLine]);
        try
        {
            var e = Assert.Throws<DataFormatException>(() => JsonlDataset.Load(path));
            Assert.StartsWith("rows.jsonl:3: " + expected, e.Message);
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }

    [Fact]
    public void Text_only_rows_numbers_and_extra_fields()
    {
        var path = WriteTemp("rows.jsonl", ["{\"question\": \"1+1?\", \"answer\": 2, \"id\": 17, \"tags\": [\"x\"]}"]);
        try
        {
            var row = Assert.Single(JsonlDataset.Load(path));
            Assert.Equal(("17", "2", false, null), (row.Id, row.Answer, row.HasImage, row.Solution));
            Assert.Equal("[\"x\"]", row.Extra["tags"]!.ToJsonString());
            Assert.Equal("rows.jsonl:1", row.Location);
            var line = JsonlDataset.ToJsonLine(row);
            Assert.Equal("{\"question\":\"1+1?\",\"answer\":\"2\",\"id\":\"17\",\"tags\":[\"x\"]}", line);
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }

    [Fact]
    public void Images_resolve_relative_to_the_file()
    {
        var dir = Directory.CreateTempSubdirectory("ril-data-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "img"));
            var image = new Ril.Data.Images.Image(3, 2, 3);
            Ril.Data.Images.ImageFile.Save(image, Path.Combine(dir, "img", "a.png"));
            File.WriteAllText(Path.Combine(dir, "d.jsonl"), "{\"question\": \"q\", \"answer\": \"a\", \"id\": \"1\", \"image\": \"img/a.png\"}\n");
            var row = Assert.Single(JsonlDataset.Load(Path.Combine(dir, "d.jsonl")));
            Assert.Equal(Path.Combine(dir, "img", "a.png"), row.ImagePath);
            Assert.Equal((3, 2), (row.LoadImage().Width, row.LoadImage().Height));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Shuffle_and_split_are_deterministic_by_seed()
    {
        var rows = Enumerable.Range(0, 100).ToList();
        Assert.Equal(JsonlDataset.Shuffle(rows, 7), JsonlDataset.Shuffle(rows, 7));
        Assert.NotEqual(JsonlDataset.Shuffle(rows, 7), JsonlDataset.Shuffle(rows, 8));
        Assert.Equal(rows, JsonlDataset.Shuffle(rows, 7).Order());
        var (train, val) = JsonlDataset.Split(rows, 0.9, 3);
        Assert.Equal((90, 10), (train.Count, val.Count));
        Assert.Empty(train.Intersect(val));
    }
}

using Ril.Data;
using Ril.Data.Images;
using Ril.Text;

namespace Ril.Tests.Data;

/// <summary>
/// One mapping of a row's fields, whatever the format: twins written by tests/fixtures/make_parquet_fixtures.mjs (the
/// same values as Parquet, through arrow-rs, and as JSONL) read identically under the same keys, questions and
/// conversations alike, with every image's pixels.
/// </summary>
public sealed class RowMappingTests : IDisposable
{
    static readonly string Keys = Path.Combine(RepoPaths.Fixtures, "parquet", "keys");
    static readonly string Chats = Path.Combine(RepoPaths.Fixtures, "parquet", "conversations");
    static readonly DatasetKeys Named = DatasetKeys.With(question: "problem", answer: "ans", solution: "sol", image: "pics");
    readonly string _dir = Directory.CreateTempSubdirectory("ril-rows-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    // The generator's image sizes (make_parquet_fixtures.mjs: width(row), height(row)).
    static int Width(int row) => 3 + row % 4;
    static int Height(int row) => 2 + row % 3;

    [Fact]
    public void Jsonl_fields_map_under_the_keys_exactly_as_parquet_columns_do()
    {
        var parquet = DatasetSource.Load(Path.Combine(Keys, "problems.parquet"), Named);
        var jsonl = DatasetSource.Load(Path.Combine(Keys, "problems.jsonl"), Named);
        Assert.Equal(6, parquet.Count);
        Assert.Equal(6, jsonl.Count);
        for (int r = 0; r < 6; r++)
        {
            var (p, j) = (parquet[r], jsonl[r]);
            Assert.Equal(($"k{r}", $"{Width(r)}", r % 2 == 0 ? null : $"The width is \\boxed{{{Width(r)}}}"), (p.Id, p.Answer, p.Solution));
            Assert.Equal((p.Id, p.Question, p.Answer, p.Solution, p.ImageColumn), (j.Id, j.Question, j.Answer, j.Solution, j.ImageColumn));
            Assert.Equal(r % 2, (long)p.Extra["level"]!);
            Assert.Equal(p.Extra["level"]!.ToJsonString(), j.Extra["level"]!.ToJsonString());
            Assert.Equal(["level"], j.Extra.Select(kv => kv.Key));
            var (pi, ji) = (p.LoadImages(), j.LoadImages());
            Assert.True(pi.Count == r % 3 && ji.Count == r % 3, $"row {r}: {pi.Count} and {ji.Count} images, expected {r % 3}");
            for (int i = 0; i < pi.Count; i++)
            {
                Assert.Equal((Width(r + i), Height(r + i)), (pi[i].Width, pi[i].Height));
                Assert.True(pi[i].SamePixels(ji[i]), $"row {r} image {i}: the data URL decodes as the Parquet bytes do");
            }
        }

        // Without keys, the MAYE names are missing: the same message for both formats, naming the option.
        var fromParquet = Assert.Throws<DataFormatException>(() => DatasetSource.Load(Path.Combine(Keys, "problems.parquet")));
        var fromJsonl = Assert.Throws<DataFormatException>(() => DatasetSource.Load(Path.Combine(Keys, "problems.jsonl")));
        Assert.Contains("--question-key", fromParquet.Message);
        Assert.StartsWith("problems.jsonl:1: field 'question': missing (name the question field with --question-key", fromJsonl.Message);
    }

    [Fact]
    public void A_jsonl_row_without_an_id_is_named_by_its_file_and_line_as_parquet_rows_are()
    {
        var path = Path.Combine(_dir, "plain.jsonl");
        File.WriteAllLines(path, ["{\"question\": \"1+1?\", \"answer\": 2}", "", "{\"question\": \"2+2?\", \"answer\": \"4\", \"images\": []}"]);
        var rows = DatasetSource.Load(path);
        Assert.Equal(["plain/1", "plain/3"], rows.Select(r => r.Id));
        Assert.False(rows[1].HasImage);
    }

    [Fact]
    public void Conversations_read_the_same_from_parquet_parts_and_from_jsonl_strings_markers_and_data_urls()
    {
        var parquet = DatasetSource.Load(Path.Combine(Chats, "chat.parquet"));
        var jsonl = DatasetSource.Load(Path.Combine(Chats, "chat.jsonl"));
        Assert.Equal(3, parquet.Count);
        string[][] expected =
        [
            ["user: <image>What colour is the square?", "assistant: Red."],
            ["system: Answer in one word.", "user: How many circles?", "assistant: Two.", "user: <image>And in this picture?", "assistant: Three."],
            ["user: What is 2 + 2?", "assistant: Four."],
        ];
        int[][] sizes = [[6, 4], [5, 5], []];
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal(expected[r], parquet[r].Messages!.Select(m => $"{m.Role}: {m.Content}"));
            Assert.Equal(expected[r], jsonl[r].Messages!.Select(m => $"{m.Role}: {m.Content}"));
            var (pi, ji) = (parquet[r].LoadImages(), jsonl[r].LoadImages());
            Assert.Equal(sizes[r], pi.SelectMany(i => new[] { i.Width, i.Height }));
            Assert.Equal(pi.Count, ji.Count);
            for (int i = 0; i < pi.Count; i++) Assert.True(pi[i].SamePixels(ji[i]), $"row {r} image {i}");
            Assert.Equal(("", ""), (parquet[r].Question, parquet[r].Answer));
        }
        // A conversation row is for SFT: asking it for a question's prompt says so, naming the row.
        var error = Assert.Throws<DataFormatException>(() => parquet[0].UserTurn(1));
        Assert.StartsWith("chat.parquet: row group 0, row 0: column 'messages': a conversation row", error.Message);
    }

    [Fact]
    public void Conversations_converted_to_jsonl_with_image_files_read_back_the_same()
    {
        var rows = DatasetSource.Load(Path.Combine(Chats, "chat.parquet"));
        var summary = MayeJsonlWriter.Write(rows, _dir, "chat");
        Assert.Equal((3, 2), (summary.Rows, summary.Images));
        var back = JsonlDataset.Load(summary.JsonlPath);
        for (int r = 0; r < rows.Count; r++)
        {
            Assert.Equal(rows[r].Id, back[r].Id);
            Assert.Equal(rows[r].Messages!.Select(m => (m.Role, m.Content)), back[r].Messages!.Select(m => (m.Role, m.Content)));
            var (before, after) = (rows[r].LoadImages(), back[r].LoadImages());
            Assert.Equal(before.Count, after.Count);
            for (int i = 0; i < before.Count; i++) Assert.True(before[i].SamePixels(after[i]), $"row {r} image {i}");
        }
    }

    [Theory]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"<image><image>Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}], \"images\": [\"IMG\"]}",
        "c.jsonl:1: field 'images': the messages stand for 2 image(s) of 'images'")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video\"}]}]}", "c.jsonl:1: field 'messages[0].content[0].type': expected text, image or image_url, found 'video'")]
    [InlineData("{\"messages\": [{\"content\": \"Hi\"}]}", "c.jsonl:1: field 'messages[0].role': expected a role")]
    [InlineData("{\"messages\": \"Hi\"}", "c.jsonl:1: field 'messages': expected a list of messages")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"../x.png\"}]}]}", "c.jsonl:1: field 'messages[0].content[0]': '../x.png' is outside the dataset's folder")]
    public void Bad_conversations_are_named_by_row_and_field(string line, string expected)
    {
        var png = "data:image/png;base64," + Convert.ToBase64String(PngEncoder.Encode(new Image(2, 2, 3)));
        var path = Path.Combine(_dir, "c.jsonl");
        File.WriteAllText(path, line.Replace("IMG", png) + "\n");
        var error = Assert.Throws<DataFormatException>(() => DatasetSource.Load(path));
        Assert.StartsWith(expected, error.Message);
    }

    [Fact]
    public void Image_markers_place_the_images_and_must_be_as_many()
    {
        DatasetRow Row(string question, int images) => new("r", question, "1", null, null, [], Path.Combine(_dir, "d.jsonl"), 7)
        {
            Images = Enumerable.Range(0, images).Select(_ => new RowImage(PngEncoder.Encode(new Image(2, 2, 3)), null)).ToList(), ImageColumn = "images",
        };
        Assert.Equal("<image>x<image>y", Row("<image>x<image>y", 2).UserTurn(2).Content);
        Assert.Equal("<image><image>no markers", Row("no markers", 2).UserTurn(2).Content);
        Assert.Equal("xy", Row("<image>x<image>y", 2).UserTurn(0).Content);   // images not used: the markers go too
        var error = Assert.Throws<DataFormatException>(() => Row("one <image> marker", 2).UserTurn(2));
        Assert.StartsWith("d.jsonl:7: the question has 1 <image> marker(s) but the row has 2 image(s) in 'images'", error.Message);
    }
}

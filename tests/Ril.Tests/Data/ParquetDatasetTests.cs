using Parquet;
using Parquet.Serialization;
using Ril.Data;
using Ril.Data.Images;

namespace Ril.Tests.Data;

/// <summary>
/// Parquet datasets as the Hub stores them, read from files written by another Parquet implementation
/// (tests/fixtures/make_parquet_fixtures.mjs: arrow-rs through parquet-wasm): every value and pixel, image structs and
/// lists of them, nulls, several row groups; keys; errors that name the file, row group, row and column; and memory
/// that stays flat while a dataset many row groups long streams past.
/// </summary>
[Collection(MeasuredMemory.Name)]
public sealed class ParquetDatasetTests : IDisposable
{
    static readonly string Mixed = Path.Combine(RepoPaths.Fixtures, "parquet", "mixed.parquet");
    static readonly string Geometry = Path.Combine(RepoPaths.Fixtures, "parquet", "geometry3k", "data");
    readonly string _dir = Directory.CreateTempSubdirectory("ril-parquet-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    // The generator's pixel(row, image, x, y) and image sizes.
    static (byte, byte, byte) Pixel(int row, int image, int x, int y) =>
        ((byte)((row * 31 + x * 17 + image * 5) & 255), (byte)((y * 29 + image * 7) & 255), (byte)((x * y + row * 3) & 255));
    static int Width(int row) => 3 + row % 4;
    static int Height(int row) => 2 + row % 3;

    static void AssertPixels(Image image, int row, int index, int width, int height, string where)
    {
        Assert.True(image.Width == width && image.Height == height, $"{where}: {image.Width}x{image.Height}, expected {width}x{height}");
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                Assert.True(image.Rgb(x, y) == Pixel(row, index, x, y), $"{where}: pixel ({x}, {y}) is {image.Rgb(x, y)}, expected {Pixel(row, index, x, y)}");
    }

    [Fact]
    public void Every_row_and_pixel_of_the_independently_written_fixture_reads_as_written()
    {
        var rows = ParquetDataset.Load(Mixed);
        Assert.Equal(10, rows.Count);
        var photoPath = Path.Combine(RepoPaths.PngFixtures, "photo.jpg");
        for (int r = 0; r < 10; r++)
        {
            var row = rows[r];
            Assert.Equal($"m{r}", row.Id);
            Assert.Equal($"What is {r} + {r}? <image>", row.Question);
            Assert.Equal($"{2 * r}", row.Answer);
            Assert.Equal(r % 2 == 0 ? null : $"{r} + {r} = \\boxed{{{2 * r}}}", row.Solution);
            Assert.Equal(r % 3, (long)row.Extra["difficulty"]!);
            Assert.Equal(r / 4, row.RowGroup);
            Assert.Equal(r, row.LineNumber);
            if (r % 5 == 3) { Assert.False(row.HasImage, row.Location); continue; }
            Assert.Single(row.Images);
            if (r == 0)
            {
                Assert.Equal(File.ReadAllBytes(photoPath), row.Images[0].Bytes);
                // JPEG decoding needs libturbojpeg; where it is missing the bytes above are what can be compared.
                if (Jpeg.IsAvailable(out _)) Assert.True(ImageFile.Load(photoPath).SamePixels(row.LoadImage()), "row 0: the JPEG decodes as the file does");
            }
            else AssertPixels(row.LoadImage(), r, 0, Width(r), Height(r), row.Location);
            Assert.Equal(r == 0 ? "photo.jpg" : $"image-{r}.png", row.ImageField);
        }
    }

    [Fact]
    public void A_column_of_image_lists_gives_every_image_of_each_row()
    {
        var rows = ParquetDataset.Load(Mixed, DatasetKeys.With(image: "images"));
        for (int r = 0; r < 10; r++)
        {
            var images = rows[r].LoadImages();
            int expected = r % 4 is 1 or 2 ? 0 : r % 3 + 1;   // null and empty lists, then one to three images
            Assert.True(images.Count == expected, $"row {r}: {images.Count} images, expected {expected}");
            for (int i = 0; i < expected; i++) AssertPixels(images[i], r, i + 1, Width(r + i), Height(r + i), $"row {r} image {i}");
        }
    }

    [Fact]
    public void Keys_name_other_columns_and_a_missing_one_is_named_with_the_columns_there()
    {
        var file = Path.Combine(Geometry, "train-00000-of-00001.parquet");
        var rows = ParquetDataset.Load(file, DatasetKeys.With(question: "problem"));
        Assert.Equal(6, rows.Count);
        Assert.Equal("<image>Find x. The angle is 10 degrees.", rows[0].Question);
        Assert.Equal("10", rows[0].Answer);
        Assert.Equal("train-00000-of-00001/0", rows[0].Id);
        Assert.Equal(32, rows[0].LoadImage().Width);
        Assert.Equal("images", rows[0].ImageColumn);

        var error = Assert.Throws<DataFormatException>(() => ParquetDataset.Load(file));
        Assert.Contains("train-00000-of-00001.parquet", error.Message);
        Assert.Contains("no column 'question'", error.Message);
        Assert.Contains("answer, images, problem", error.Message);
        Assert.Contains("--question-key", error.Message);
    }

    public sealed class Row
    {
        public string? question { get; set; }
        public string? answer { get; set; }
        public byte[]? image { get; set; }
    }

    public sealed class IdRow
    {
        public string? id { get; set; }
        public string? question { get; set; }
        public string? answer { get; set; }
    }

    string Write<T>(string name, IEnumerable<IReadOnlyList<T>> rowGroups)
    {
        var path = Path.Combine(_dir, name);
        using var stream = File.Create(path);
        bool first = true;
        foreach (var group in rowGroups)
        {
            ParquetSerializer.SerializeAsync(group, stream, new ParquetOptions { Append = !first }).GetAwaiter().GetResult();
            first = false;
        }
        return path;
    }

    static readonly byte[] TinyPng = PngEncoder.Encode(new Image(2, 2, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));

    [Fact]
    public void A_missing_value_is_named_by_file_row_group_row_and_column()
    {
        Row Good(int i) => new() { question = $"q{i}", answer = $"{i}", image = TinyPng };
        var path = Write("bad.parquet", [[Good(0), Good(1)], [Good(2), new Row { question = "q3", answer = null, image = TinyPng }]]);
        var error = Assert.Throws<DataFormatException>(() => ParquetDataset.Load(path));
        Assert.Equal("bad.parquet: row group 1, row 3: column 'answer': missing (null)", error.Message);

        var notAnImage = Write("notimage.parquet", [[Good(0)], [Good(1), new Row { question = "q", answer = "a", image = [1, 2, 3, 4] }]]);
        error = Assert.Throws<DataFormatException>(() => ParquetDataset.Load(notAnImage));
        Assert.Equal("notimage.parquet: row group 1, row 2: column 'image': the image's bytes are neither PNG nor JPEG", error.Message);

        // Ids, where the file has them, are unique as in JSONL.
        var twice = Write<IdRow>("twice.parquet", [[new IdRow { id = "a", question = "q", answer = "1" }, new IdRow { id = "a", question = "q", answer = "2" }]]);
        error = Assert.Throws<DataFormatException>(() => ParquetDataset.Load(twice));
        Assert.Equal("twice.parquet: row group 0, row 1: column 'id': duplicate id 'a' (ids must be unique within a file)", error.Message);

        // A PNG that claims more pixels than the decoders' bound is refused when decoded, naming the row.
        var huge = (byte[])TinyPng.Clone();
        huge[16] = 0x7F;   // width's high byte in IHDR
        var hugePath = Write("huge.parquet", [[new Row { question = "q", answer = "a", image = huge }]]);
        var row = Assert.Single(ParquetDataset.Load(hugePath));
        error = Assert.Throws<DataFormatException>(() => row.LoadImage());
        Assert.StartsWith("huge.parquet: row group 0, row 0: column 'image': ", error.Message);
    }

    [Fact]
    public void Memory_stays_flat_while_streaming_many_row_groups()
    {
        const int groups = 24, rowsPerGroup = 100, imageBytes = 16 << 10;
        var random = new Random(7);
        IEnumerable<IReadOnlyList<Row>> Groups()
        {
            for (int g = 0; g < groups; g++)
                yield return Enumerable.Range(0, rowsPerGroup).Select(i =>
                {
                    var bytes = new byte[imageBytes];
                    random.NextBytes(bytes);
                    TinyPng.CopyTo(bytes, 0);   // a PNG signature in front of noise: the reader checks only the signature
                    return new Row { question = $"q{g}-{i}", answer = "1", image = bytes };
                }).ToList();
        }
        var path = Write("large.parquet", Groups());
        long groupBytes = (long)rowsPerGroup * imageBytes;
        Assert.True(new FileInfo(path).Length > groups * groupBytes * 9 / 10, "the file holds the noise uncompressed");

        var retained = new List<long>();
        int lastGroup = -1, count = 0;
        foreach (var row in ParquetDataset.Read(path))
        {
            count++;
            if (row.RowGroup != lastGroup)
            {
                lastGroup = row.RowGroup!.Value;
                retained.Add(GC.GetTotalMemory(forceFullCollection: true));
            }
        }
        Assert.Equal(groups * rowsPerGroup, count);
        long baseline = retained[2], peak = retained.Skip(2).Max();
        // Holding what was read would add a row group's bytes per group (~38 MB over the file); streaming keeps at most a couple.
        Assert.True(peak - baseline < 3 * groupBytes,
            $"retained memory grew by {(peak - baseline) >> 10} KiB while streaming {groups} row groups of {groupBytes >> 10} KiB: {string.Join(", ", retained.Select(b => b >> 20))} MiB");
    }
}

/// <summary>`data convert`'s writer: any dataset as MAYE JSONL with image files that read back as the Parquet rows do.</summary>
public sealed class MayeJsonlWriterTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-convert-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Parquet_rows_written_as_maye_jsonl_read_back_with_the_same_text_and_pixels()
    {
        var source = Path.Combine(RepoPaths.Fixtures, "parquet", "mixed.parquet");
        var rows = ParquetDataset.Load(source, DatasetKeys.With(image: "images"));
        var summary = MayeJsonlWriter.Write(rows, _dir, "mixed");
        Assert.Equal(10, summary.Rows);
        Assert.Equal(rows.Sum(r => r.Images.Count), summary.Images);

        var back = JsonlDataset.Load(summary.JsonlPath);
        Assert.Equal(rows.Select(r => (r.Id, r.Question, r.Answer, r.Solution)), back.Select(r => (r.Id, r.Question, r.Answer, r.Solution)));
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(rows[i].HasImage, back[i].HasImage);
            if (rows[i].HasImage) Assert.True(rows[i].LoadImage().SamePixels(back[i].LoadImage()), $"row {i}: the image file decodes as the Parquet bytes do");
            Assert.Equal(rows[i].Extra["difficulty"]!.ToString(), back[i].Extra["difficulty"]!.ToString());
        }
        // Several images are written as a list `images`, which reads back whole.
        Assert.Equal(["images/mixed/m4.png", "images/mixed/m4-1.png"], back[4].Images.Select(i => Path.GetRelativePath(_dir, i.Path!).Replace('\\', '/')));
        for (int i = 0; i < rows.Count; i++)
            Assert.Equal(rows[i].LoadImages().Select(im => (im.Width, im.Height)), back[i].LoadImages().Select(im => (im.Width, im.Height)));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
    }
}

using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Ril.Data.Images;

namespace Ril.Tests.Data;

public class ImageCodecTests
{
    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    static byte[] Unzip(string base64)
    {
        using var z = new ZLibStream(new MemoryStream(Convert.FromBase64String(base64)), CompressionMode.Decompress);
        var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>
    /// With libturbojpeg installed, JPEGs decode to PIL's pixels (both are libjpeg-turbo with the same
    /// defaults); without it, the error says what to install. Whichever holds on this machine is tested.
    /// </summary>
    [Fact]
    public void Jpeg_decodes_like_PIL_or_explains_what_is_missing()
    {
        var references = JsonSerializer.Deserialize<List<PngDecoderTests.Reference>>(
            File.ReadAllText(Path.Combine(RepoPaths.PngFixtures, "jpeg.json")), Json)!;
        foreach (var reference in references)
        {
            var path = Path.Combine(RepoPaths.PngFixtures, reference.File);
            if (!Jpeg.IsAvailable(out var problem))
            {
                var e = Assert.Throws<ImageFormatException>(() => ImageFile.Load(path));
                Assert.Contains("libturbojpeg", e.Message);
                Assert.Contains("apt-get install", problem);
                continue;
            }
            var image = ImageFile.Load(path);
            Assert.Equal((reference.Width, reference.Height), (image.Width, image.Height));
            var expected = Unzip(reference.Pixels);
            var actual = reference.Mode == "L" ? image.ToGrey().Pixels : image.ToRgb().Pixels;
            int worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1, $"{reference.File}: a sample differs from PIL by {worst}");
        }
    }

    [SkippableFact]
    public void Corrupt_jpeg_is_an_error_not_a_crash()
    {
        Skip.IfNot(Jpeg.IsAvailable(out var problem), problem);
        var data = File.ReadAllBytes(Path.Combine(RepoPaths.PngFixtures, "photo.jpg"));
        var random = new Random(1);
        for (int i = 0; i < 300; i++)
        {
            var mutated = PngFuzzing.Mutate(data, random);
            try { Jpeg.Decode(mutated); } catch (ImageFormatException) { }
        }
        Assert.Throws<ImageFormatException>(() => Jpeg.Decode(data.AsSpan(0, 40)));
    }

    [Fact]
    public void Pnm_reads_binary_and_plain_variants()
    {
        var p6 = Encoding.ASCII.GetBytes("P6\n# a comment\n2 1\n255\n").Concat(new byte[] { 1, 2, 3, 4, 5, 6 }).ToArray();
        var image = Pnm.Decode(p6);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, image.Pixels);

        var p3 = Encoding.ASCII.GetBytes("P3 2 1 15\n15 0 0   0 15 0");
        Assert.Equal(new byte[] { 255, 0, 0, 0, 255, 0 }, Pnm.Decode(p3).Pixels);

        var p5wide = Encoding.ASCII.GetBytes("P5 2 1 65535\n").Concat(new byte[] { 0xFF, 0xFF, 0x80, 0x00 }).ToArray();
        Assert.Equal(new byte[] { 255, 128 }, Pnm.Decode(p5wide).Pixels);

        Assert.Equal(new byte[] { 0, 255, 255, 0 }, Pnm.Decode(Encoding.ASCII.GetBytes("P1 4 1 1001")).Pixels);
        Assert.Equal(new byte[] { 0, 255, 255 }, Pnm.Decode(Encoding.ASCII.GetBytes("P4 3 1\n").Concat(new byte[] { 0b1000_0000 }).ToArray()).Pixels);
    }

    [Fact]
    public void Pnm_round_trips_and_rejects_truncation()
    {
        var image = new Image(5, 3, 3);
        new Random(2).NextBytes(image.Pixels);
        var encoded = Pnm.Encode(image);
        Assert.True(image.SamePixels(Pnm.Decode(encoded)));
        var e = Assert.Throws<ImageFormatException>(() => Pnm.Decode(encoded.AsSpan(0, encoded.Length - 1)));
        Assert.Contains("truncated", e.Message);
        Assert.Throws<ImageFormatException>(() => Pnm.Decode(Encoding.ASCII.GetBytes("P6 2")));
        Assert.Throws<ImageFormatException>(() => Pnm.Decode(Encoding.ASCII.GetBytes("P6 -2 1 255\n")));
    }

    [Fact]
    public void Unknown_formats_and_empty_files_are_named()
    {
        Assert.Contains("unrecognised", Assert.Throws<ImageFormatException>(() => ImageFile.Decode("GIF89a......"u8)).Message);
        Assert.Contains("empty", Assert.Throws<ImageFormatException>(() => ImageFile.Decode([])).Message);
    }

    [Fact]
    public void Save_picks_the_format_by_extension()
    {
        var dir = Directory.CreateTempSubdirectory("ril-image-").FullName;
        try
        {
            var image = new Image(4, 3, 4);
            new Random(5).NextBytes(image.Pixels);
            ImageFile.Save(image, Path.Combine(dir, "a.png"));
            ImageFile.Save(image, Path.Combine(dir, "a.ppm"));
            Assert.True(image.SamePixels(ImageFile.Load(Path.Combine(dir, "a.png"))));
            Assert.True(image.ToRgb().SamePixels(ImageFile.Load(Path.Combine(dir, "a.ppm"))));
            Assert.Throws<ArgumentException>(() => ImageFile.Save(image, Path.Combine(dir, "a.gif")));
        }
        finally { Directory.Delete(dir, true); }
    }
}

public class ImageOpsTests
{
    sealed record Resized(string Filter, int Width, int Height, string Pixels);
    sealed record ResizeFixture(int Width, int Height, string Source, List<Resized> Resized);

    /// <summary>Resize agrees with PIL's to within one level (PIL works in fixed point, we in doubles).</summary>
    [Fact]
    public void Resize_matches_PIL_within_one_level()
    {
        var fixture = JsonSerializer.Deserialize<ResizeFixture>(File.ReadAllText(Path.Combine(RepoPaths.PngFixtures, "resize.json")),
            new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        var source = new Image(fixture.Width, fixture.Height, 3, Convert.FromBase64String(fixture.Source));
        foreach (var r in fixture.Resized)
        {
            var filter = r.Filter == "bilinear" ? ResizeFilter.Bilinear : ResizeFilter.Bicubic;
            var ours = ImageOps.Resize(source, r.Width, r.Height, filter);
            var pil = Convert.FromBase64String(r.Pixels);
            int worst = pil.Zip(ours.Pixels, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1, $"{r.Filter} to {r.Width}×{r.Height}: differs from PIL by {worst}");
        }
    }

    [Fact]
    public void Resize_keeps_a_flat_image_flat()
    {
        var image = new Image(10, 10, 3);
        Array.Fill(image.Pixels, (byte)200);
        foreach (var filter in new[] { ResizeFilter.Bilinear, ResizeFilter.Bicubic })
            Assert.All(ImageOps.Resize(image, 7, 23, filter).Pixels, p => Assert.Equal(200, p));
    }

    [Fact]
    public void Crop_and_pad()
    {
        var image = new Image(4, 3, 1, Enumerable.Range(0, 12).Select(i => (byte)i).ToArray());
        Assert.Equal(new byte[] { 5, 6, 9, 10 }, ImageOps.Crop(image, 1, 1, 2, 2).Pixels);
        Assert.Throws<ArgumentException>(() => ImageOps.Crop(image, 3, 0, 2, 1));
        var padded = ImageOps.PadToSquare(image, 99);
        Assert.Equal((4, 4), (padded.Width, padded.Height));
        Assert.Equal(new byte[] { 0, 1, 2, 3 }, padded.Pixels[..4]);
        Assert.All(padded.Pixels[12..], p => Assert.Equal(99, p));
        var boxed = ImageOps.Letterbox(new Image(8, 4, 3), 6, ResizeFilter.Bilinear, 1, 2, 3);
        Assert.Equal((6, 6), (boxed.Width, boxed.Height));
        Assert.Equal(new byte[] { 1, 2, 3 }, boxed.Pixels[..3]);
    }

    [Fact]
    public void Normalise_and_patchify()
    {
        var image = new Image(4, 2, 3);
        for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] = (byte)(i * 10);
        var pixels = ImageOps.Normalise(image, [0.5f], [0.5f]);
        Assert.Equal((3, 2, 4), (pixels.Channels, pixels.Height, pixels.Width));
        // Channel 1 of pixel (x=2, y=1) is byte index (1*4+2)*3+1 = 19 → 190.
        Assert.Equal((190f / 255f - 0.5f) / 0.5f, pixels.Data[1 * 8 + 1 * 4 + 2], 5);

        var patches = ImageOps.Patchify(pixels, 2);
        Assert.Equal((2, 12, 1, 2), (patches.Count, patches.Dimension, patches.GridHeight, patches.GridWidth));
        // Patch 1 covers x 2–3; its first values are channel 0 row 0: pixels (2,0), (3,0).
        Assert.Equal(pixels.Data[2], patches.Data[12]);
        Assert.Equal(pixels.Data[3], patches.Data[13]);
        Assert.Equal(pixels.Data[4 + 2], patches.Data[14]);
        Assert.Throws<ArgumentException>(() => ImageOps.Patchify(pixels, 3));
    }
}

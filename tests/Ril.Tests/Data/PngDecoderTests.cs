using System.IO.Compression;
using System.Text.Json;
using Ril.Data.Images;

namespace Ril.Tests.Data;

/// <summary>
/// The decoder against PIL's decoding of the same files (tests/fixtures/make_png_fixtures.py wrote the
/// reference pixels; see that script for the canonical form each PIL mode is compared in).
/// </summary>
public class PngDecoderTests
{
    public sealed record Reference(string File, int Width, int Height, string Mode, string Pixels, int[]? Transparency);

    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    static List<Reference> LoadReferences(string manifest) =>
        JsonSerializer.Deserialize<List<Reference>>(File.ReadAllText(Path.Combine(RepoPaths.PngFixtures, manifest)), Json)!;

    static byte[] Unzip(string base64)
    {
        using var z = new ZLibStream(new MemoryStream(Convert.FromBase64String(base64)), CompressionMode.Decompress);
        var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>Our decoding in PIL's canonical form for <paramref name="mode"/>.</summary>
    static byte[] AsPil(PngImage png, string mode)
    {
        if (mode == "I16")
        {
            Assert.Equal(PngColorType.Grey, png.ColorType);
            Assert.Equal(16, png.BitDepth);
            var bytes = new byte[png.Samples.Length * 2];
            for (int i = 0; i < png.Samples.Length; i++) { bytes[2 * i] = (byte)png.Samples[i]; bytes[2 * i + 1] = (byte)(png.Samples[i] >> 8); }
            return bytes;
        }
        var image = png.ToImage();
        // PIL keeps a colour key as metadata instead of an alpha channel: compare colour channels only
        // (the key itself is compared separately).
        if (png.TransparentKey != null) image = png.ColorType == PngColorType.Grey ? image.ToGrey() : image.ToRgb();
        return mode switch
        {
            "L" => image.ToGrey().Pixels,
            "LA" => Assert.IsType<Image>(image.Channels == 2 ? image : null).Pixels,
            "RGB" => image.ToRgb().Pixels,
            "RGBA" => image.ToRgba().Pixels,
            _ => throw new InvalidOperationException(mode),
        };
    }

    /// <summary>Compares every pixel; returns the number of differing bytes (0 expected) for the message.</summary>
    static void AssertMatchesPil(string directory, Reference reference)
    {
        var png = PngDecoder.Decode(File.ReadAllBytes(Path.Combine(directory, reference.File)));
        Assert.Equal((reference.Width, reference.Height), (png.Width, png.Height));
        var expected = Unzip(reference.Pixels);
        var actual = AsPil(png, reference.Mode);
        Assert.Equal(expected.Length, actual.Length);
        int differing = 0;
        for (int i = 0; i < expected.Length; i++) if (expected[i] != actual[i]) differing++;
        Assert.True(differing == 0, $"{reference.File}: {differing} of {expected.Length} bytes differ from PIL");
        if (reference.Transparency != null)
        {
            Assert.NotNull(png.TransparentKey);
            Assert.Equal(reference.Transparency, png.TransparentKey!.Select(v => (int)v).ToArray());
        }
        else Assert.Null(png.TransparentKey);
    }

    public static IEnumerable<object[]> Generated() => LoadReferences("expected.json").Select(r => new object[] { r.File });
    public static IEnumerable<object[]> Suite() => LoadReferences("pngsuite.json").Select(r => new object[] { r.File });

    [Theory, MemberData(nameof(Generated))]
    public void Generated_files_decode_to_PILs_pixels(string file) =>
        AssertMatchesPil(RepoPaths.PngFixtures, LoadReferences("expected.json").Single(r => r.File == file));

    /// <summary>
    /// Every PngSuite image in tests/fixtures/pngsuite, interlaced/ included. That folder's README and
    /// bad_interlace_conversions.txt come from libpng's test set, where they mark the interlaced sub-byte
    /// (1/2/4-bit) files as failing libpng's own pngimage test program: a note about that tool, not about
    /// the files. PIL decodes each of them to the same colours as its non-interlaced twin (two of them
    /// order their palettes differently), so they need no special case: we must match PIL on them
    /// like on every other file (and see
    /// <see cref="Interlaced_sub_byte_files_match_their_progressive_twins"/>).
    /// </summary>
    [Theory, MemberData(nameof(Suite))]
    public void PngSuite_decodes_to_PILs_pixels(string file) =>
        AssertMatchesPil(RepoPaths.PngSuite, LoadReferences("pngsuite.json").Single(r => r.File == file));

    [Fact]
    public void Every_PngSuite_file_has_a_reference()
    {
        var onDisk = Directory.EnumerateFiles(RepoPaths.PngSuite, "*.png", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(RepoPaths.PngSuite, f)).Order().ToList();
        Assert.Equal(onDisk, LoadReferences("pngsuite.json").Select(r => r.File).Order().ToList());
        Assert.True(onDisk.Count >= 50);
    }

    [Fact]
    public void Interlaced_sub_byte_files_match_their_progressive_twins()
    {
        foreach (var name in File.ReadAllLines(Path.Combine(RepoPaths.PngSuite, "bad_interlace_conversions.txt")).Where(l => l.EndsWith(".png")))
        {
            var interlaced = Path.Combine(RepoPaths.PngSuite, "interlaced", "i" + name);
            if (!File.Exists(interlaced)) continue;
            var a = PngDecoder.DecodeImage(File.ReadAllBytes(Path.Combine(RepoPaths.PngSuite, name)));
            var b = PngDecoder.DecodeImage(File.ReadAllBytes(interlaced));
            Assert.True(a.SamePixels(b), name);
        }
    }

    public sealed record BadFile(string File, string Error_contains);

    public static IEnumerable<object[]> BadFiles() =>
        JsonSerializer.Deserialize<List<BadFile>>(File.ReadAllText(Path.Combine(RepoPaths.PngFixtures, "bad.json")), Json)!
            .Select(b => new object[] { b.File, b.Error_contains });

    [Theory, MemberData(nameof(BadFiles))]
    public void Corrupt_files_are_rejected_with_a_clear_error(string file, string word)
    {
        var path = Path.Combine(RepoPaths.PngFixtures, file);
        var e = Assert.Throws<ImageFormatException>(() => ImageFile.Load(path));
        Assert.Contains(word, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void Encoder_round_trips_every_channel_count()
    {
        var random = new Random(3);
        foreach (int channels in new[] { 1, 2, 3, 4 })
        {
            var image = new Image(17, 9, channels);
            random.NextBytes(image.Pixels);
            for (int i = 0; i < 40; i++) image.Pixels[i] = 7; // a flat run so several filters get chosen
            var decoded = PngDecoder.DecodeImage(PngEncoder.Encode(image));
            Assert.True(image.SamePixels(decoded));
        }
    }

    /// <summary>
    /// Random mutations (flipped bits, overwritten bytes, cuts, inserted or deleted runs, and the same with
    /// CRCs repaired so the damage reaches the inflater and the unfilterer) of valid files, for a bounded
    /// time: every outcome is a decoded image or an ImageFormatException, never another exception or a hang.
    /// </summary>
    [Fact]
    public void Fuzzed_files_never_crash_the_decoder()
    {
        var seeds = Directory.EnumerateFiles(Path.Combine(RepoPaths.PngFixtures, "gen"), "*.png").Order()
            .Select(File.ReadAllBytes).ToList();
        var random = new Random(12345);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int iterations = 0, rejected = 0;
        var slowest = TimeSpan.Zero;
        while (clock.Elapsed < TimeSpan.FromSeconds(4))
        {
            var data = PngFuzzing.Mutate(seeds[random.Next(seeds.Count)], random);
            var started = clock.Elapsed;
            try { PngDecoder.DecodeImage(data); }
            catch (ImageFormatException) { rejected++; }
            var took = clock.Elapsed - started;
            if (took > slowest) slowest = took;
            iterations++;
        }
        Assert.True(iterations > 1000, $"only {iterations} iterations");
        Assert.True(slowest < TimeSpan.FromSeconds(1), $"one input took {slowest}");
        Console.WriteLine($"PNG fuzz: {iterations} inputs, {rejected} rejected, slowest {slowest.TotalMilliseconds:F1} ms");
    }
}

public static class PngFuzzing
{
    public static byte[] Mutate(byte[] original, Random random)
    {
        var data = new List<byte>(original);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && data.Count > 0; e++)
        {
            int at = random.Next(data.Count);
            switch (random.Next(6))
            {
                case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: data[at] = (byte)random.Next(256); break;
                case 2: data.RemoveRange(at, data.Count - at); break;
                case 3: data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(16))); break;
                case 4: data.InsertRange(at, Enumerable.Range(0, 1 + random.Next(16)).Select(_ => (byte)random.Next(256))); break;
                default: // big-endian value in a plausible header field (sizes, lengths)
                    if (at + 4 <= data.Count) { int v = random.Next(3) == 0 ? random.Next() : random.Next(64); for (int i = 0; i < 4; i++) data[at + i] = (byte)(v >> (24 - 8 * i)); }
                    break;
            }
        }
        var bytes = data.ToArray();
        if (random.Next(2) == 0) RepairCrcs(bytes);
        return bytes;
    }

    /// <summary>Recomputes every chunk CRC it can walk to, so mutations get past the CRC check.</summary>
    static void RepairCrcs(byte[] png)
    {
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            long length = (uint)(png[pos] << 24 | png[pos + 1] << 16 | png[pos + 2] << 8 | png[pos + 3]);
            if (pos + 12 + length > png.Length) return;
            uint crc = Crc32.Compute(png.AsSpan(pos + 4, 4 + (int)length));
            int c = pos + 8 + (int)length;
            png[c] = (byte)(crc >> 24); png[c + 1] = (byte)(crc >> 16); png[c + 2] = (byte)(crc >> 8); png[c + 3] = (byte)crc;
            pos = c + 4;
        }
    }
}

using System.Text;
using System.Text.Json.Nodes;
using Ril.Evaluation;
using Ril.Tests.Data;

namespace Ril.Tests.Evaluation;

/// <summary>
/// The event-file format, checked against a reader we did not write: tests/fixtures/tensorboard/read_events.mjs decodes
/// the committed event file with protobufjs and TensorBoard's own event.proto, checking every CRC with AWS's CRC32C, and
/// its output is committed as expected.json. Here the writer must reproduce that file byte for byte, and the reader's
/// view of it must hold exactly the tags, steps, times and values the writer was given.
/// </summary>
public class TensorBoardWriterTests
{
    const string FixtureName = "events.out.tfevents.1700000000.ril-fixture";
    static string FixtureDir => Path.Combine(RepoPaths.Fixtures, "tensorboard");

    /// <summary>What the fixture holds, in order: scalars (tag, value, step) and text samples (tag, text, step).</summary>
    static readonly (string Tag, object Value, long Step)[] Sample =
    [
        ("reward/total", 0.25, 0),
        ("reward/answer", 0.125, 0),
        ("loss/policy", -0.0031, 1),
        ("reflection/reflection_ratio", 1.0 / 3, 1),
        ("eval/val/t0.6_pass@1/accuracy", 0.5, 10),
        ("speed/rollout_tokens_per_s", 123456.5, 300),
        ("train/grad_norm", double.NaN, 301),
        ("train/lr", 5e-6, 1L << 40),              // a step that needs a six-byte varint
        ("samples/train", "**Question** How many red circles?\n\n**Response** Wait, let me re-check: \\boxed{3} ✓ — 三", 2),
        ("samples/eval", "", 3),
    ];

    static double Time(int call) => 1700000000.25 + 0.5 * call;

    static string WriteSample(string dir)
    {
        int calls = 0;
        using var writer = new TensorBoardWriter(dir, () => Time(calls++), host: "ril-fixture");
        foreach (var (tag, value, step) in Sample)
            if (value is string text) writer.AddText(tag, text, step);
            else writer.AddScalar(tag, (double)value, step);
        return writer.FilePath;
    }

    [Fact]
    public void Crc32c_and_its_mask_match_the_published_check_values()
    {
        Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C(Encoding.ASCII.GetBytes("123456789")));   // CRC-32C check value (RFC 3720)
        Assert.Equal(0u, TensorBoardWriter.Crc32C([]));
        Assert.Equal(0xa282ead8u, TensorBoardWriter.MaskedCrc32C([]));
        var record = TensorBoardWriter.Frame([1, 2, 3]);
        Assert.Equal(8 + 4 + 3 + 4, record.Length);
        Assert.Equal(3ul, BitConverter.ToUInt64(record, 0));
    }

    [Fact]
    public void The_writer_reproduces_the_file_the_reference_reader_parsed()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-tb-{Guid.NewGuid():N}");
        try
        {
            var path = WriteSample(dir);
            Assert.Equal(FixtureName, Path.GetFileName(path));
            var fixture = Path.Combine(FixtureDir, FixtureName);
            if (Environment.GetEnvironmentVariable("RIL_UPDATE_FIXTURES") == "1") File.Copy(path, fixture, overwrite: true);
            Assert.Equal(File.ReadAllBytes(fixture), File.ReadAllBytes(path));
            // A second writer in the same second gets its own file.
            int calls = 0;
            using var second = new TensorBoardWriter(dir, () => Time(calls++), host: "ril-fixture");
            Assert.NotEqual(path, second.FilePath);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void The_reference_reader_finds_the_tags_steps_and_values_written()
    {
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDir, "expected.json")))!;
        Assert.StartsWith("protobufjs@", (string)expected["reader"]!);
        Assert.Equal(FixtureName, (string)expected["file"]!);
        Assert.Equal(new FileInfo(Path.Combine(FixtureDir, FixtureName)).Length, (long)expected["bytes"]!);
        var events = expected["events"]!.AsArray();
        Assert.Equal(1 + Sample.Length, (int)expected["records"]!);
        Assert.Equal(1 + Sample.Length, events.Count);

        Assert.Equal("brain.Event:2", (string)events[0]!["file_version"]!);
        Assert.Equal(Time(0), (double)events[0]!["wall_time"]!);
        for (int i = 0; i < Sample.Length; i++)
        {
            var (tag, value, step) = Sample[i];
            var e = events[i + 1]!;
            Assert.Equal(Time(i + 1), (double)e["wall_time"]!);
            Assert.Equal(step, (long)e["step"]!);
            var v = Assert.Single(e["values"]!.AsArray())!;
            Assert.Equal(tag, (string)v["tag"]!);
            if (value is string text)
            {
                Assert.Equal("text", (string)v["plugin_name"]!);
                Assert.Equal("DT_STRING", (string)v["dtype"]!);
                Assert.Empty(v["shape"]!.AsArray());
                Assert.Equal(text, (string)Assert.Single(v["string_val"]!.AsArray())!);
            }
            else if (double.IsNaN((double)value)) Assert.Equal("NaN", (string)v["simple_value"]!);
            else Assert.Equal((float)(double)value, (float)(double)v["simple_value"]!);   // simple_value is a float32
        }

        // TensorBoard's own EventAccumulator (second opinion, see the fixture README) found every tag.
        var accumulator = File.ReadAllText(Path.Combine(FixtureDir, "event_accumulator.txt"));
        foreach (var (tag, value, step) in Sample)
            Assert.Contains(value is string ? $"tensor {tag} {step} " : $"scalar {tag} {step} ", accumulator);
    }
}

using Ril.Rewards;

namespace Ril.Tests.Rewards;

/// <summary>
/// Repairing a JSON-lines cache after a crash touches only what a crash can leave: a torn last line. Before this was
/// tested, a cache path pointed at a model's config.json or model.safetensors cut those files, and a valid cache without
/// its final newline lost its last record.
/// </summary>
public sealed class JsonlRepairTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-jsonl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void A_file_that_is_not_json_lines_is_never_modified()
    {
        var config = Write("config.json", "{\n  \"model_type\": \"qwen2\",\n  \"hidden_size\": 64\n}"u8.ToArray());
        var header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"u8.ToArray();
        var weights = Write("model.safetensors", [.. BitConverter.GetBytes((long)header.Length), .. header, 0x0A, 1, 2, 3, 4, 5, 6, 7]);
        foreach (var path in new[] { config, weights })
        {
            var before = File.ReadAllBytes(path);
            var e = Assert.Throws<InvalidDataException>(() => JsonlAppender.RepairTornLastLine(path));
            Assert.Contains(Path.GetFileName(path), e.Message);
            Assert.Equal(before, File.ReadAllBytes(path));
            Assert.Throws<InvalidDataException>(() => JudgeCache.Open(path));
            Assert.Equal(before, File.ReadAllBytes(path));
        }
    }

    [Fact]
    public void A_whole_last_record_without_its_newline_is_kept_and_a_torn_one_is_cut()
    {
        var whole = Write("whole.jsonl", "{\"a\":1}\n{\"a\":2}"u8.ToArray());
        Assert.Equal(0, JsonlAppender.RepairTornLastLine(whole));
        Assert.Equal("{\"a\":1}\n{\"a\":2}\n", File.ReadAllText(whole));

        var single = Write("single.jsonl", "{\"a\":1}"u8.ToArray());
        Assert.Equal(0, JsonlAppender.RepairTornLastLine(single));
        Assert.Equal("{\"a\":1}\n", File.ReadAllText(single));

        var torn = Write("torn.jsonl", "{\"a\":1}\n{\"a\":"u8.ToArray());
        Assert.Equal(5, JsonlAppender.RepairTornLastLine(torn));
        Assert.Equal("{\"a\":1}\n", File.ReadAllText(torn));

        var own = Write("metrics.jsonl", "{\"st"u8.ToArray());
        Assert.Throws<InvalidDataException>(() => JsonlAppender.RepairTornLastLine(own));
        Assert.Equal(4, JsonlAppender.RepairTornLastLine(own, ownFile: true));
        Assert.Equal(0, new FileInfo(own).Length);
    }
}

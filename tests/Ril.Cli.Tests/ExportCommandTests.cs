using System.Text;

namespace Ril.Cli.Tests;

/// <summary>
/// `ril export gguf` and `ril export mmproj` as a user runs them: the tiny Qwen2-VL checkpoint's text decoder and its vision
/// tower become GGUF files (the formats and their read-back are tested in Ril.Tests' GgufExportTests and MmprojExportTests;
/// llama.cpp loads them in `bench llamacpp --check` and `bench mmproj`).
/// </summary>
public sealed class ExportCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-export-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static string Qwen2VlTiny => Path.Combine(AppContext.BaseDirectory, "fixtures", "qwen2-vl-tiny");

    [Fact]
    public void Writes_the_decoder_of_a_vlm_folder_as_gguf()
    {
        var path = Path.Combine(_dir, "out", "tiny.gguf");
        var run = Processes.Run([.. Processes.Ril, "export", "gguf", "--model", Qwen2VlTiny, "--out", path, "--type", "bf16"]);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("architecture qwen2vl", run.StandardOutput);
        Assert.Contains("pre-tokenizer qwen2", run.StandardOutput);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("GGUF", Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Equal(3u, BitConverter.ToUInt32(bytes, 4));
        Assert.Equal(1UL + 2 * 12 + 1, BitConverter.ToUInt64(bytes, 8));   // token_embd, 12 per block (q/k/v biases), output_norm; tied: no output
        var text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 1 << 16));
        foreach (var key in new[] { "qwen2vl.rope.dimension_sections", "tokenizer.ggml.merges", "blk.1.attn_q.bias", "token_embd.weight" })
            Assert.Contains(key, text);
        Assert.DoesNotContain("\u000d\0\0\0\0\0\0\0output.weight", text);   // the name with its uint64 length 13: not attn_output.weight
        Assert.Contains("\u0012\0\0\0\0\0\0\0output_norm.weight", text);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void Writes_the_vision_tower_of_a_vlm_folder_as_mmproj()
    {
        var path = Path.Combine(_dir, "out", "tiny-mmproj.gguf");
        var run = Processes.Run([.. Processes.Ril, "export", "mmproj", "--model", Qwen2VlTiny, "--out", path]);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("projector qwen2vl_merger, 40 tensors", run.StandardOutput);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("GGUF", Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Equal(3u, BitConverter.ToUInt32(bytes, 4));
        Assert.Equal(40UL, BitConverter.ToUInt64(bytes, 8));   // two patch kernels, 16 per block, post_ln (weight, bias), mm.0 and mm.2
        var text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 1 << 16));
        foreach (var key in new[] { "clip.projector_type", "qwen2vl_merger", "clip.vision.image_mean", "v.patch_embd.weight.1", "v.blk.1.attn_q.bias", "mm.2.weight" })
            Assert.Contains(key, text);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));

        var refused = Processes.Run([.. Processes.Ril, "export", "mmproj", "--model", Path.Combine(AppContext.BaseDirectory, "fixtures", "qwen3.5-tiny"), "--out", path + ".2"]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("Qwen3.5", refused.Output);
        Assert.DoesNotContain("   at ", refused.Output);   // one line, no stack trace
        Assert.False(File.Exists(path + ".2"));
    }

    [Fact]
    public void A_missing_folder_or_type_is_a_one_line_error_and_writes_nothing()
    {
        var path = Path.Combine(_dir, "never.gguf");
        var missing = Processes.Run([.. Processes.Ril, "export", "gguf", "--model", Path.Combine(_dir, "no-such-model"), "--out", path]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no-such-model", missing.Output);
        var badType = Processes.Run([.. Processes.Ril, "export", "gguf", "--model", Qwen2VlTiny, "--out", path, "--type", "q4"]);
        Assert.NotEqual(0, badType.ExitCode);
        Assert.Contains("q4", badType.Output);
        Assert.False(File.Exists(path));
    }
}

using Ril.Hub;

namespace Ril.Tests.Hub;

/// <summary>Hub ids, the environment huggingface_hub reads, and which files of a repository a model download takes.</summary>
public class HubIdTests
{
    [Theory]
    [InlineData("Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-2B-Instruct", "main")]
    [InlineData("org/name@v1.0", "org/name", "v1.0")]
    [InlineData("org/name@refs/pr/3", "org/name", "refs/pr/3")]
    [InlineData("org_1/model.v2@0123456789abcdef0123456789abcdef01234567", "org_1/model.v2", "0123456789abcdef0123456789abcdef01234567")]
    public void Parses_Org_Name_and_an_optional_revision(string text, string repo, string revision)
    {
        Assert.True(HubModelId.TryParse(text, out var id));
        Assert.Equal(new HubModelId(repo, revision), id);
        Assert.Equal("models--" + repo.Replace("/", "--"), id.CacheFolderName);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("/abs/path")]
    [InlineData("./org/name")]
    [InlineData("a/b/c")]
    [InlineData("org/name@")]
    [InlineData("org/na--me")]
    [InlineData("org/..")]
    [InlineData("org/name@../../etc")]
    [InlineData("org/-name")]
    [InlineData("")]
    public void Refuses_what_is_not_a_Hub_id(string text) => Assert.False(HubModelId.TryParse(text, out _));

    [Fact]
    public void A_full_commit_hash_revision_is_a_commit()
    {
        Assert.True(HubModelId.Parse("o/n@0123456789abcdef0123456789abcdef01234567").RevisionIsCommit);
        Assert.False(HubModelId.Parse("o/n@main").RevisionIsCommit);
    }

    [Fact]
    public void Reads_the_environment_as_huggingface_hub_does()
    {
        var home = Path.Combine(Path.GetTempPath(), "no-such-hf-home");
        var options = HubOptions.FromEnvironment(new Dictionary<string, string?>
        {
            ["HF_HOME"] = home, ["HF_ENDPOINT"] = "http://mirror.example/", ["HF_TOKEN"] = " hf_abc ", ["HF_HUB_OFFLINE"] = "yes",
        }.GetValueOrDefault);
        Assert.Equal(Path.Combine(home, "hub"), options.CacheDirectory);
        Assert.Equal("http://mirror.example", options.Endpoint);
        Assert.Equal("hf_abc", options.Token);
        Assert.True(options.Offline);

        var cache = HubOptions.FromEnvironment(new Dictionary<string, string?> { ["HF_HUB_CACHE"] = "/c", ["HF_HOME"] = home }.GetValueOrDefault);
        Assert.Equal("/c", cache.CacheDirectory);
        Assert.Equal(HubOptions.PublicEndpoint, cache.Endpoint);
        Assert.False(cache.Offline);

        var xdg = HubOptions.FromEnvironment(new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = "/x" }.GetValueOrDefault);
        Assert.Equal(Path.Combine("/x", "huggingface", "hub"), xdg.CacheDirectory);
    }

    [Fact]
    public void A_full_disk_is_named_as_such_with_the_model_and_revision()
    {
        using var client = new HubClient(HubModelId.Parse("org/name@v1"), new HubOptions { CacheDirectory = Path.GetTempPath() });
        // ENOSPC as .NET reports it on Linux and macOS: the errno in HResult.
        var e = Assert.Throws<HubException>(() => client.Write("blobs/x.incomplete", () => throw new IOException("No space left on device", 28)));
        Assert.Equal(HubErrorKind.DiskFull, e.Kind);
        Assert.StartsWith("Hub model org/name@v1: no space left on the disk of the Hub cache while writing blobs/x.incomplete", e.Message);
        var other = Assert.Throws<HubException>(() => client.Write("refs/main", () => throw new UnauthorizedAccessException("denied")));
        Assert.Equal(HubErrorKind.CacheNotWritable, other.Kind);
    }

    [Theory]
    [InlineData("1", true)] [InlineData("ON", true)] [InlineData("true", true)] [InlineData("Yes", true)]
    [InlineData("0", false)] [InlineData("", false)] [InlineData(null, false)] [InlineData("false", false)] [InlineData("2", false)]
    public void Flags_are_true_as_huggingface_hub_reads_them(string? value, bool expected) => Assert.Equal(expected, HubOptions.IsTrue(value));

    [Fact]
    public void A_model_download_takes_configs_tokenizer_and_safetensors_and_skips_other_weight_formats()
    {
        string[] files =
        [
            ".gitattributes", "README.md", "config.json", "generation_config.json", "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
            "model.gguf", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "vocab.json",
            "merges.txt", "onnx/model.onnx", "original/consolidated.pth", "preprocessor_config.json", "processor_config.json", "rust_model.ot",
        ];
        Assert.Equal(
        [
            "README.md", "chat_template.jinja", "config.json", "generation_config.json", "merges.txt", "model.safetensors.index.json",
            "preprocessor_config.json", "processor_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        ], HubModelFiles.Select(files));
        // Without safetensors, the weights come in the format there is.
        Assert.Contains("pytorch_model.bin", HubModelFiles.Select(["config.json", "pytorch_model.bin"]));
    }
}

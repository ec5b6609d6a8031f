using Ril.Hub;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Cli.Tests;

/// <summary>
/// Models by Hub id (`Org/Name[@revision]`) against <see cref="FakeHub"/>: `ril generate` downloads into the
/// huggingface_hub cache layout and answers as the folder does, works from the cache offline or with the Hub down,
/// needs HF_TOKEN for a private repository, resumes cut downloads, retries 5xx, and says clearly what went wrong.
/// </summary>
public sealed class HubTests : IAsyncLifetime
{
    const string Repo = "tiny-org/tiny-vlm";
    readonly string _dir = Directory.CreateTempSubdirectory("ril-hub-").FullName;
    FakeHub _hub = null!;
    string _commit = "";

    string ModelFolder => Path.Combine(_dir, "model");
    string Cache => Path.Combine(_dir, "hub-cache");
    string RepoCache => Path.Combine(Cache, "models--tiny-org--tiny-vlm");
    static readonly string[] Generate = ["generate", "--prompt", "What is 2 + 3?", "--max-new-tokens", "12"];

    public async Task InitializeAsync()
    {
        WriteTinyModel(ModelFolder);
        _hub = await FakeHub.StartAsync();
        _commit = _hub.AddRepository(Repo, ModelFolder);
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    /// <summary>A tiny VLM with random weights (greedy decoding makes its answer repeatable), the test tokenizer, and files a model download skips or keeps.</summary>
    internal static void WriteTinyModel(string folder)
    {
        var tokenizerPath = Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer.json");
        var tokenizer = BpeTokenizer.Load(tokenizerPath);
        var text = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 4, NumKvHeadsField = 2, MaxPositions = 256 };
        var vision = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 2, ImageSize = 32, PatchSize = 8 };
        var config = new VlmConfig { Text = text, Vision = vision, PixelShuffle = 2, ImageTokenId = tokenizer.SpecialTokenId("<|image_pad|>") };
        var model = VisionLanguageModel.Create(config, new Rng(5));
        Checkpoint.Save(folder, model.ConfigJson(), model.Parameters());
        File.Copy(tokenizerPath, Path.Combine(folder, "tokenizer.json"));
        File.WriteAllText(Path.Combine(folder, "README.md"), "# tiny-vlm\n");
        File.WriteAllBytes(Path.Combine(folder, "pytorch_model.bin"), new byte[4096]);   // a redundant format: never downloaded
    }

    Dictionary<string, string> Environment(params (string Key, string Value)[] extra)
    {
        // Empty values mask what the machine running the tests may have set.
        var environment = new Dictionary<string, string>
        {
            ["HF_ENDPOINT"] = _hub.Url, ["HF_HUB_CACHE"] = Cache, ["HF_HOME"] = Path.Combine(_dir, "hf-home"),
            ["HF_TOKEN"] = "", ["HUGGING_FACE_HUB_TOKEN"] = "", ["HF_HUB_OFFLINE"] = "", ["TRANSFORMERS_OFFLINE"] = "",
        };
        foreach (var (key, value) in extra) environment[key] = value;
        return environment;
    }

    HubOptions Options() => new()
    {
        CacheDirectory = Cache, Endpoint = _hub.Url, FirstRetryDelay = TimeSpan.FromMilliseconds(10), Timeout = TimeSpan.FromSeconds(20),
    };

    static string GenerateText(string model, Dictionary<string, string> environment) => RunGenerate(model, environment).StandardOutput;

    static Processes.Result RunGenerate(string model, Dictionary<string, string> environment)
    {
        var result = Processes.Run([.. Processes.Ril, .. Generate, "--model", model], environment);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.False(string.IsNullOrWhiteSpace(result.StandardOutput), result.Output);
        return result;
    }

    [Fact]
    public void Generate_by_Hub_id_fills_the_hub_cache_and_prints_what_the_folder_prints()
    {
        var expected = GenerateText(ModelFolder, Environment());
        Assert.Empty(_hub.Requests);

        var viaHub = RunGenerate(Repo, Environment());
        Assert.Equal(expected, viaHub.StandardOutput);
        // Not a terminal: plain progress lines, on stderr.
        Assert.Contains($"downloading {Repo}@main [4/4] model.safetensors (", viaHub.Output);
        Assert.Contains($"downloaded {Repo}@main [4/4] model.safetensors", viaHub.Output);

        Assert.Equal(_commit, File.ReadAllText(Path.Combine(RepoCache, "refs", "main")));
        var snapshot = Path.Combine(RepoCache, "snapshots", _commit);
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "README.md" })
        {
            var link = new FileInfo(Path.Combine(snapshot, file));
            Assert.True(link.LinkTarget is not null, $"{file} is not a symbolic link");
            Assert.StartsWith("../../blobs/", link.LinkTarget);
            Assert.Equal(File.ReadAllBytes(Path.Combine(ModelFolder, file)), File.ReadAllBytes(link.FullName));
        }
        // An LFS file's blob is named by its sha256, the etag the Hub announces for it.
        var weights = File.ReadAllBytes(Path.Combine(ModelFolder, "model.safetensors"));
        Assert.True(File.Exists(Path.Combine(RepoCache, "blobs", FakeHub.Sha256(weights))));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(RepoCache, "blobs"), "*.incomplete"));
        Assert.False(File.Exists(Path.Combine(snapshot, "pytorch_model.bin")));
        Assert.DoesNotContain(_hub.Requests, r => r.Path.EndsWith("pytorch_model.bin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_cached_model_works_offline_and_with_the_Hub_stopped()
    {
        var expected = GenerateText(Repo, Environment());

        _hub.ClearLog();
        Assert.Equal(expected, GenerateText(Repo, Environment(("HF_HUB_OFFLINE", "1"))));
        Assert.Empty(_hub.Requests);

        await _hub.StopAsync();
        var result = Processes.Run([.. Processes.Ril, .. Generate, "--model", Repo], Environment());
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(expected, result.StandardOutput);
        Assert.Contains("using the cached snapshot", result.Output);
    }

    [Fact]
    public void A_private_repository_needs_HF_TOKEN()
    {
        const string privateRepo = "tiny-org/private-vlm";
        _hub.AddRepository(privateRepo, ModelFolder, token: "hf_test_secret");

        var refused = Processes.Run([.. Processes.Ril, .. Generate, "--model", privateRepo], Environment());
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains($"Hub model {privateRepo}@main: authentication needed", refused.Output);
        Assert.Contains("set HF_TOKEN", refused.Output);

        var wrongToken = Assert.Throws<HubException>(() => ModelLocation.Resolve(privateRepo, Options() with { Token = "hf_wrong" }));
        Assert.Equal(HubErrorKind.AuthenticationRequired, wrongToken.Kind);
        Assert.Contains("refused the token in HF_TOKEN", wrongToken.Message);

        Assert.Equal(GenerateText(ModelFolder, Environment()), GenerateText(privateRepo, Environment(("HF_TOKEN", "hf_test_secret"))));
        Assert.Contains(_hub.Requests, r => r.Path.StartsWith($"/api/models/{privateRepo}/", StringComparison.Ordinal) && r.Authorized && r.Status == 200);
    }

    [Fact]
    public void A_cut_download_resumes_with_a_range_request_and_5xx_answers_are_retried()
    {
        var weights = File.ReadAllBytes(Path.Combine(ModelFolder, "model.safetensors"));
        var blobPath = $"/cdn/{FakeHub.Sha256(weights)}";
        _hub.CutNext(blobPath, weights.Length / 2);
        _hub.FailNext("/revision/main", 500);
        _hub.FailNext("/tokenizer.json", 503, times: 2);

        var folder = ModelLocation.Resolve(Repo, Options());

        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(ModelFolder, file)), File.ReadAllBytes(Path.Combine(folder, file)));
        var requests = _hub.Requests;
        var blobGets = requests.Where(r => r.Method == "GET" && r.Path == blobPath).ToList();
        Assert.True(blobGets.Count == 2, string.Join("\n", requests));
        Assert.Null(blobGets[0].Range);
        Assert.Equal(0, blobGets[0].Status);   // cut
        Assert.Equal(206, blobGets[1].Status);
        long resumedAt = long.Parse(blobGets[1].Range!["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(resumedAt, 1, weights.Length / 2);
        AssertNothingFetchedTwiceInFull(requests);
        Assert.Equal([500, 200], requests.Where(r => r.Path.EndsWith("/revision/main", StringComparison.Ordinal)).Select(r => r.Status));
        Assert.Equal([503, 503, 200, 200], requests.Where(r => r.Path.EndsWith("/tokenizer.json", StringComparison.Ordinal)).Select(r => r.Status));

        // A second resolve finds everything cached: it asks for the revision and fetches nothing.
        _hub.ClearLog();
        Assert.Equal(folder, ModelLocation.Resolve(Repo, Options()));
        Assert.Equal([$"/api/models/{Repo}/revision/main"], _hub.Requests.Select(r => r.Path));
    }

    [Fact]
    public void A_download_cut_for_good_keeps_its_bytes_and_the_next_run_resumes_them()
    {
        var weights = File.ReadAllBytes(Path.Combine(ModelFolder, "model.safetensors"));
        var sha = FakeHub.Sha256(weights);
        _hub.CutNext($"/cdn/{sha}", weights.Length / 3);

        var failed = Assert.Throws<HubException>(() => ModelLocation.Resolve(Repo, Options() with { MaxAttempts = 1 }));
        Assert.Equal(HubErrorKind.Network, failed.Kind);
        Assert.Contains($"Hub model {Repo}@main: downloading model.safetensors failed", failed.Message);
        var partial = Path.Combine(RepoCache, "blobs", sha + ".incomplete");
        long kept = new FileInfo(partial).Length;
        Assert.InRange(kept, 1, weights.Length / 3);
        Assert.False(File.Exists(Path.Combine(RepoCache, "blobs", sha)));

        var folder = ModelLocation.Resolve(Repo, Options());
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.False(File.Exists(partial));
        var blobGets = _hub.Requests.Where(r => r.Method == "GET" && r.Path == $"/cdn/{sha}").ToList();
        Assert.Equal([null, $"bytes={kept}-"], blobGets.Select(r => r.Range));
        AssertNothingFetchedTwiceInFull(_hub.Requests);
    }

    static void AssertNothingFetchedTwiceInFull(IReadOnlyList<FakeHub.LoggedRequest> requests)
    {
        var twice = requests.Where(r => r.Method == "GET" && r.Range is null && r.Status == 200 && !r.Path.StartsWith("/api/", StringComparison.Ordinal))
            .GroupBy(r => r.Path).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(twice.Count == 0, $"fetched twice in full: {string.Join(", ", twice)}\n{string.Join("\n", requests)}");
    }

    [Fact]
    public void A_renamed_repository_is_followed_through_its_relative_redirect()
    {
        _hub.Rename("old-org/tiny-vlm", Repo);
        var folder = ModelLocation.Resolve("old-org/tiny-vlm", Options());
        Assert.StartsWith(Path.Combine(Cache, "models--old-org--tiny-vlm", "snapshots"), folder);
        Assert.Equal(File.ReadAllBytes(Path.Combine(ModelFolder, "config.json")), File.ReadAllBytes(Path.Combine(folder, "config.json")));
        Assert.Contains(_hub.Requests, r => r.Status == 307);
    }

    [Fact]
    public void An_unknown_repository_is_an_error_that_names_it()
    {
        var result = Processes.Run([.. Processes.Ril, .. Generate, "--model", "tiny-org/no-such-model"], Environment());
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: Hub model tiny-org/no-such-model@main: no such repository on " + _hub.Url, result.Output);
        Assert.Contains("no local directory 'tiny-org/no-such-model'", result.Output);

        var e = Assert.Throws<HubException>(() => ModelLocation.Resolve("tiny-org/no-such-model@v2", Options()));
        Assert.Equal(HubErrorKind.RepositoryNotFound, e.Kind);
        Assert.Contains("tiny-org/no-such-model@v2", e.Message);
    }

    [Fact]
    public void An_unknown_revision_is_an_error_that_names_it()
    {
        var e = Assert.Throws<HubException>(() => ModelLocation.Resolve(Repo + "@v9", Options()));
        Assert.Equal(HubErrorKind.RevisionNotFound, e.Kind);
        Assert.Contains($"Hub model {Repo}@v9: the repository has no revision 'v9'", e.Message);
    }

    [Fact]
    public void Offline_and_not_cached_is_an_error_that_touches_no_network()
    {
        var e = Assert.Throws<HubException>(() => ModelLocation.Resolve(Repo, Options() with { Offline = true }));
        Assert.Equal(HubErrorKind.NotCached, e.Kind);
        Assert.Contains($"Hub model {Repo}@main: offline (HF_HUB_OFFLINE is set) and not in the cache", e.Message);
        Assert.Empty(_hub.Requests);
    }

    [Fact]
    public void A_checksum_mismatch_is_an_error_and_keeps_nothing_of_the_download()
    {
        _hub.Corrupt(Repo, "model.safetensors");
        var e = Assert.Throws<HubException>(() => ModelLocation.Resolve(Repo, Options()));
        Assert.Equal(HubErrorKind.ChecksumMismatch, e.Kind);
        Assert.Contains($"Hub model {Repo}@main: checksum mismatch for model.safetensors", e.Message);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(RepoCache, "blobs"), "*.safetensors*"));
        var sha = FakeHub.Sha256(File.ReadAllBytes(Path.Combine(ModelFolder, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(RepoCache, "blobs", sha)));
        Assert.False(File.Exists(Path.Combine(RepoCache, "blobs", sha + ".incomplete")));
        Assert.False(File.Exists(Path.Combine(RepoCache, "refs", "main")));
    }

    [Fact]
    public void Neither_a_directory_nor_a_Hub_id_says_what_was_tried()
    {
        foreach (var argument in new[] { "no-such-model-folder", "./models/no/such/folder" })
        {
            var e = Assert.Throws<DirectoryNotFoundException>(() => ModelLocation.Resolve(argument, Options()));
            Assert.Contains($"'{argument}': no such model directory, and not a Hub id", e.Message);
        }
        Assert.Equal(ModelFolder, ModelLocation.Resolve(ModelFolder, Options()));
        Assert.Empty(_hub.Requests);
    }
}

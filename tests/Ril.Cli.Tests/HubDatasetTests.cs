namespace Ril.Cli.Tests;

/// <summary>
/// Datasets by Hub id against <see cref="FakeHub"/>: a geometry3k-shaped dataset repository (data/{split}-00000-of-00001.parquet,
/// images as bytes, problem with &lt;image&gt;) read by `ril eval` as <c>hiyouga/geometry3k@test</c>, downloaded into the
/// huggingface_hub cache layout (datasets--Org--Name), then read again offline; a dataset kept in another format read
/// from the Hub's converted Parquet branch; a missing split named clearly.
/// </summary>
public sealed class HubDatasetTests : IAsyncLifetime
{
    const string Repo = "hiyouga/geometry3k";
    readonly string _dir = Directory.CreateTempSubdirectory("ril-hub-data-").FullName;
    FakeHub _hub = null!;

    string ModelFolder => Path.Combine(_dir, "model");
    string Cache => Path.Combine(_dir, "hub-cache");
    static string Geometry3k => Path.Combine(AppContext.BaseDirectory, "fixtures", "geometry3k");

    public async Task InitializeAsync()
    {
        HubTests.WriteTinyModel(ModelFolder);
        _hub = await FakeHub.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    Dictionary<string, string> Environment(bool offline = false) => new()
    {
        ["HF_ENDPOINT"] = _hub.Url, ["HF_HUB_CACHE"] = Cache, ["HF_HOME"] = Path.Combine(_dir, "hf-home"),
        ["HF_TOKEN"] = "", ["HUGGING_FACE_HUB_TOKEN"] = "", ["HF_HUB_OFFLINE"] = offline ? "1" : "", ["TRANSFORMERS_OFFLINE"] = "",
    };

    Processes.Result Eval(string output, bool offline) => Processes.Run([.. Processes.Ril, "eval", "--model", ModelFolder, "--dataset", $"{Repo}@test",
        "--question-key", "problem", "--settings", "0.6:1:1", "--max-new-tokens", "4", "--batch", "4", "--out", output], Environment(offline));

    static string Samples(string output) => File.ReadAllText(Directory.GetFiles(Path.Combine(output, "test"), "step-000000.jsonl", SearchOption.AllDirectories).Single());

    [Fact]
    public async Task Eval_reads_a_geometry3k_shaped_dataset_by_id_then_again_offline()
    {
        var commit = _hub.AddDatasetRepository(Repo, Geometry3k);
        var online = Eval(Path.Combine(_dir, "online"), offline: false);
        Assert.True(online.ExitCode == 0, online.Output);
        Assert.Contains($"3 questions from {Repo}@test", online.StandardOutput);
        var snapshot = Path.Combine(Cache, "datasets--hiyouga--geometry3k", "snapshots", commit, "data");
        Assert.True(File.Exists(Path.Combine(snapshot, "test-00000-of-00001.parquet")), online.Output);
        Assert.False(File.Exists(Path.Combine(snapshot, "train-00000-of-00001.parquet")), "only the split asked for is downloaded");
        Assert.Contains(_hub.Requests, r => r.Path == "/api/datasets/hiyouga/geometry3k/revision/main" && r.Status == 200);
        var samples = Samples(Path.Combine(_dir, "online"));
        Assert.Equal(3, samples.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        _hub.ClearLog();
        await _hub.StopAsync();
        var offline = Eval(Path.Combine(_dir, "offline"), offline: true);
        Assert.True(offline.ExitCode == 0, offline.Output);
        Assert.Contains($"3 questions from {Repo}@test", offline.StandardOutput);
        Assert.Empty(_hub.Requests);
        Assert.Equal(samples, Samples(Path.Combine(_dir, "offline")));
    }

    string TrainRecipe(string name)
    {
        var path = Path.Combine(_dir, name + ".yaml");
        File.WriteAllText(path, $"""
            run:
              name: {name}
              out: {Path.Combine(_dir, "runs")}
            model:
              path: {ModelFolder}
            data:
              train: {Repo}@train
              val: {Repo}@test
              question_key: problem
            trainer:
              algo: dr_grpo
              steps: 2
              questions_per_step: 2
              lr: 1e-3
              mini_batch_size: 4
              micro_batch_size: 2
              seed: 7
            rollout:
              group_size: 2
              max_response_tokens: 6
            reward:
              answer: verifier
            eval:
              every: 0
              each_epoch: false
              settings: "0.6:1:1"
              max_new_tokens: 6
            checkpoint:
              every: 0

            """);
        return path;
    }

    [Fact]
    public async Task A_short_train_run_reads_the_dataset_by_id_then_again_offline()
    {
        _hub.AddDatasetRepository(Repo, Geometry3k);
        var online = Processes.Run([.. Processes.Ril, "train", "--config", TrainRecipe("online")], Environment());
        Assert.True(online.ExitCode == 0, online.Output);
        Assert.Contains("done: 2 steps", online.StandardOutput);
        Assert.Contains(_hub.Requests, r => r.Path.EndsWith("/data/train-00000-of-00001.parquet", StringComparison.Ordinal));
        Assert.Contains(_hub.Requests, r => r.Path.EndsWith("/data/test-00000-of-00001.parquet", StringComparison.Ordinal));

        _hub.ClearLog();
        await _hub.StopAsync();
        var offline = Processes.Run([.. Processes.Ril, "train", "--config", TrainRecipe("offline")], Environment(offline: true));
        Assert.True(offline.ExitCode == 0, offline.Output);
        Assert.Contains("done: 2 steps", offline.StandardOutput);
        Assert.Empty(_hub.Requests);
        var config = File.ReadAllText(Path.Combine(_dir, "runs", "offline", "config.json"));
        Assert.Contains("\"question_key\": \"problem\"", config);
    }

    [Fact]
    public void A_dataset_without_parquet_files_is_read_from_the_converted_parquet_branch()
    {
        var main = Directory.CreateDirectory(Path.Combine(_dir, "json-main")).FullName;
        File.WriteAllText(Path.Combine(main, "test.json"), "[]");
        var converted = Directory.CreateDirectory(Path.Combine(_dir, "json-converted", "default", "test")).FullName;
        File.Copy(Path.Combine(Geometry3k, "data", "test-00000-of-00001.parquet"), Path.Combine(converted, "0000.parquet"));
        _hub.AddDatasetRepository("someone/g3k-json", main);
        _hub.AddDatasetRepository("someone/g3k-json", Path.Combine(_dir, "json-converted"), "refs/convert/parquet");

        var result = Processes.Run([.. Processes.Ril, "data", "show", "someone/g3k-json@test", "--question-key", "problem", "--rows", "2"], Environment());
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("question: <image>Find x. The angle is 20 degrees.", result.StandardOutput);
        Assert.Contains("0000/1 (0000.parquet: row group 0, row 1)", result.StandardOutput);
        Assert.Contains("image:    32x32", result.StandardOutput);
        Assert.True(File.Exists(Path.Combine(Cache, "datasets--someone--g3k-json", "refs", "refs", "convert", "parquet")), "the converted branch's ref is cached");
        Assert.Contains(_hub.Requests, r => r.Path.EndsWith("/default/test/0000.parquet", StringComparison.Ordinal) && r.Method == "HEAD");
    }

    [Fact]
    public void A_split_the_dataset_lacks_is_named_with_the_files_there()
    {
        _hub.AddDatasetRepository(Repo, Geometry3k);
        var result = Processes.Run([.. Processes.Ril, "data", "check", $"{Repo}@validation", "--question-key", "problem"], Environment());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Hub dataset hiyouga/geometry3k@validation: no Parquet files of split 'validation'", result.Output);
        Assert.Contains("data/train-00000-of-00001.parquet (main)", result.Output);
    }
}

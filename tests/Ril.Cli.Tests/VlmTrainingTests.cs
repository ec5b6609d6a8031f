using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ril.Tensors.IO;

namespace Ril.Cli.Tests;

/// <summary>A tiny student of one family, written and SFT-warmed once for a test class and removed after it (kept when RIL_KEEP is set).</summary>
public abstract class TinyStudent(TinyRecipe tiny) : IDisposable
{
    public TinyRecipe Tiny { get; } = tiny;

    public void Dispose()
    {
        if (Directory.Exists(Tiny.Folder) && Environment.GetEnvironmentVariable("RIL_KEEP") is null) Directory.Delete(Tiny.Folder, true);
    }

    protected static string Folder(string family) => Path.Combine(Path.GetTempPath(), $"ril-{family}-{Guid.NewGuid():N}");
}

/// <summary>
/// `ril train` on the built-in suite with a tiny student of a real family, the same three runs for each: Dr.GRPO killed
/// with SIGKILL and resumed ends exactly where the uninterrupted run ends, RIL trains the student and the
/// discriminator, and a LoRA run writes its adapter in PEFT's layout under the names of the decoder's modules in
/// transformers' class (<paramref name="decoderPrefix"/>, e.g. "model.language_model." or "model.text_model."; for
/// Qwen2.5-VL not its checkpoint's "model.": docs/RESULTS.md §10).
/// </summary>
public abstract class VlmTrainingTests(TinyRecipe tiny, string modelType, string decoderPrefix)
{
    const int Steps = 8, CheckpointEvery = 4;
    protected TinyRecipe Tiny { get; } = tiny;

    [Fact]
    public void A_killed_dr_grpo_run_resumed_ends_where_an_uninterrupted_run_ends()
    {
        var straight = Recipe("grpo-straight", checkpointEvery: CheckpointEvery);
        var killed = Recipe("grpo-killed", checkpointEvery: CheckpointEvery);
        Processes.Check([.. Processes.Ril, "train", "--config", straight]);
        var runDir = Tiny.RunDirectory("grpo-killed");
        ResumeAfterKillTests.KillAfterFirstCheckpoint([.. Processes.Ril, "train", "--config", killed], runDir);
        Assert.Contains("resuming", Processes.Check([.. Processes.Ril, "train", "--config", killed, "--resume"]));

        var expected = ResumeAfterKillTests.MetricsByStep(Tiny.RunDirectory("grpo-straight"));
        var resumed = ResumeAfterKillTests.MetricsByStep(runDir);
        Assert.Equal(Steps, expected.Count);
        Assert.Equal(Steps, File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl")).Count(l => l.Length > 0));
        Assert.True(expected.Values.Any(m => m["reward/total"]!.GetValue<double>() > 0),
            "the run should see some reward, or resuming would be trivially exact");
        for (int step = CheckpointEvery + 1; step <= Steps; step++)
            foreach (var key in ResumeAfterKillTests.Deterministic)
                Assert.True(ResumeAfterKillTests.Json(expected[step][key]) == ResumeAfterKillTests.Json(resumed[step][key]),
                    $"step {step} {key}: uninterrupted {ResumeAfterKillTests.Json(expected[step][key])}, resumed {ResumeAfterKillTests.Json(resumed[step][key])}");
        var file = Path.Combine("model", "model.safetensors");
        Assert.True(File.ReadAllBytes(Path.Combine(Tiny.RunDirectory("grpo-straight"), file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(runDir, file))),
            "model.safetensors differs between the uninterrupted and the resumed run");
        Assert.False(File.ReadAllBytes(Path.Combine(Tiny.ModelDirectory, "model.safetensors")).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(runDir, file))),
            "training left the student's weights as they were");
    }

    [Fact]
    public void A_ril_run_trains_the_student_and_the_discriminator()
    {
        const int rilSteps = 3;
        var path = Tiny.RilRecipe("ril", rilSteps);
        Processes.Check([.. Processes.Ril, "train", "--config", path]);
        var runDir = Tiny.RunDirectory("ril");
        var metrics = ResumeAfterKillTests.MetricsByStep(runDir);
        Assert.Equal(rilSteps, metrics.Count);
        foreach (var row in metrics.Values)
            Assert.True(double.IsFinite(row["loss/total"]!.GetValue<double>()), $"step {row["step"]}: loss/total {row["loss/total"]}");
        Assert.True(File.Exists(Path.Combine(runDir, "model", "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(runDir, "discriminator", "model.safetensors")));
        Assert.Equal(modelType, (string)JsonNode.Parse(File.ReadAllText(Path.Combine(runDir, "model", "config.json")))!["model_type"]!);
    }

    [Fact]
    public void A_lora_run_writes_a_peft_adapter_named_as_peft_names_the_decoders_modules()
    {
        var path = Recipe("lora", steps: 2, checkpointEvery: 0);
        File.AppendAllText(path, "lora:\n  rank: 4\n  alpha: 8\n");
        Processes.Check([.. Processes.Ril, "train", "--config", path]);
        var adapter = Path.Combine(Tiny.RunDirectory("lora"), "adapter");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(adapter, "adapter_config.json")))!;
        Assert.Equal("LORA", (string)config["peft_type"]!);
        Assert.Equal("CAUSAL_LM", (string)config["task_type"]!);
        Assert.Equal(4, (int)config["r"]!);
        var names = SafeTensors.Read(Path.Combine(adapter, "adapter_model.safetensors")).Tensors.Select(t => t.Name).ToList();
        var peftName = new Regex("^base_model\\.model\\." + Regex.Escape(decoderPrefix) + @"layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.lora_[AB]\.weight$");
        Assert.All(names, name => Assert.Matches(peftName, name));
        // Layer 0 of a hybrid decoder (Qwen3.5) is linear attention: the first attention layer holds q_proj.
        Assert.Contains(names, n => Regex.IsMatch(n, $@"^base_model\.model\.{Regex.Escape(decoderPrefix)}layers\.\d+\.self_attn\.q_proj\.lora_A\.weight$"));
        Assert.Contains(names, n => Regex.IsMatch(n, $@"^base_model\.model\.{Regex.Escape(decoderPrefix)}layers\.\d+\.self_attn\.q_proj\.lora_B\.weight$"));
        var targets = config["target_modules"]!.AsArray().Select(t => (string)t!).ToList();
        foreach (var target in targets)
            Assert.Contains(names, n => n.Contains($".{target}.lora_A."));
        var file = SafeTensors.Read(Path.Combine(adapter, "adapter_model.safetensors"));
        Assert.Contains(file.Tensors, t => t.Name.EndsWith(".lora_B.weight") && t.Data.Any(v => v != 0));   // B starts at zero: the run trained it

        // The adapter goes back onto the student it was trained from: every tensor finds its module.
        var adapters = Models.PeftAdapter.Load(adapter, Models.ChatModel.Load(Tiny.ModelDirectory).Model);
        Assert.Equal(names.Count, adapters.Parameters().Count());
    }

    /// <summary>Data-parallel over Open MPI: 2 ranks, each with half of every batch, end at the parameters of one process.</summary>
    [SkippableFact]
    public void Two_mpi_ranks_end_at_the_parameters_of_one_process()
    {
        string one = Recipe("mpi-one-process", steps: 4), two = Recipe("mpi-two-ranks", steps: 4);
        Processes.Check([.. Processes.Ril, "train", "--config", one], new Dictionary<string, string> { ["RIL_THREADS"] = "2" });
        Processes.Check([DistributedTrainingTests.Mpirun, "--allow-run-as-root", "-np", "2", "--bind-to", "none", "-x", "RIL_THREADS=1",
            "--mca", "btl", "self,tcp", .. Processes.Ril, "train", "--config", two], DistributedTrainingTests.RootAllowed);
        var expected = DistributedTrainingTests.Parameters(Path.Combine(Tiny.RunDirectory("mpi-one-process"), "model"));
        var actual = DistributedTrainingTests.Parameters(Path.Combine(Tiny.RunDirectory("mpi-two-ranks"), "model"));
        var start = DistributedTrainingTests.Parameters(Tiny.ModelDirectory);
        double difference = DistributedTrainingTests.RelativeDistance(actual, expected), moved = DistributedTrainingTests.RelativeDistance(start, expected);
        Assert.True(difference <= 1e-5, $"{modelType}: two ranks' parameters differ from one process's by {difference:E2} relative");
        Assert.True(moved > 1e-3, $"{modelType}: training moved the parameters by only {moved:E2} relative: the equality would prove nothing");
    }

    /// <summary>The Dr.GRPO recipe of <see cref="TinyRecipe.Recipe"/>, checkpointing every <paramref name="checkpointEvery"/> steps (0: never).</summary>
    string Recipe(string name, int steps = Steps, int checkpointEvery = 0)
    {
        var path = Tiny.Recipe(name, steps);
        File.WriteAllText(path, File.ReadAllText(path).Replace("every: 10", $"every: {checkpointEvery}").Replace("keep: 1", "keep: 2"));
        return path;
    }
}

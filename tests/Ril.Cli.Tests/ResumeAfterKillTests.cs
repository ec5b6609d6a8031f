using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Ril.Cli.Tests;

/// <summary>
/// `ril train` killed with SIGKILL in the middle of a run and continued with --resume ends exactly where the same run
/// ends uninterrupted: the same per-step metrics after the checkpoint, the same final weights (and, for RIL, the same
/// discriminator). Same seed and thread count, as the checkpoint contract says.
/// </summary>
public sealed class ResumeAfterKillTests
{
    const int Steps = 12, CheckpointEvery = 4;

    /// <summary>Metrics that depend on the computation only (not on the clock).</summary>
    internal static readonly string[] Deterministic = ["reward/total", "loss/total", "loss/policy", "train/grad_norm", "train/entropy", "response/length_mean", "accuracy/train"];

    [Theory]
    [InlineData("dr_grpo")]
    [InlineData("ril")]
    [InlineData("dr_grpo_lora")]
    public void A_killed_run_resumed_ends_where_an_uninterrupted_run_ends(string algo)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"ril-kill-{algo}-{Guid.NewGuid():N}");
        try
        {
            var tiny = TinyRecipe.Write(folder);
            var straight = Recipe(tiny, algo, "straight");
            var killed = Recipe(tiny, algo, "killed");
            Processes.Check([.. Processes.Ril, "train", "--config", straight]);

            var runDir = tiny.RunDirectory("killed");
            KillAfterFirstCheckpoint([.. Processes.Ril, "train", "--config", killed], runDir);
            var output = Processes.Check([.. Processes.Ril, "train", "--config", killed, "--resume"]);
            Assert.Contains("resuming", output);
            if (algo == "dr_grpo")
            {
                // Another learning rate is another run: refused, naming the key, and the run's config.json is kept.
                // (Before, --resume took any recipe and rewrote config.json.)
                var config = File.ReadAllText(Path.Combine(runDir, "config.json"));
                var refused = Processes.Run([.. Processes.Ril, "train", "--config", killed, "--resume", "--set", "trainer.lr=0.5"]);
                Assert.NotEqual(0, refused.ExitCode);
                Assert.Contains("trainer.lr", refused.Output);
                Assert.Equal(config, File.ReadAllText(Path.Combine(runDir, "config.json")));
            }

            var expected = MetricsByStep(tiny.RunDirectory("straight"));
            var resumed = MetricsByStep(runDir);
            // One row per step: the rows logged after the checkpoint and before the kill were dropped, not repeated.
            Assert.Equal(Steps, File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl")).Count(l => l.Length > 0));
            Assert.Equal(Steps, expected.Count);
            Assert.True(expected[Steps]["reward/total"]!.GetValue<double>() > 0 || expected.Values.Any(m => m["reward/total"]!.GetValue<double>() > 0),
                "the run should see some reward, or resuming would be trivially exact");
            for (int step = CheckpointEvery + 1; step <= Steps; step++)
                foreach (var key in Deterministic)
                    Assert.True(Json(expected[step][key]) == Json(resumed[step][key]), $"step {step} {key}: uninterrupted {Json(expected[step][key])}, resumed {Json(resumed[step][key])}");
            string[] files = algo switch
            {
                "ril" => ["model/model.safetensors", "discriminator/model.safetensors"],
                "dr_grpo_lora" => ["adapter/adapter_model.safetensors"],
                _ => ["model/model.safetensors"],
            };
            foreach (var file in files)
                Assert.True(File.ReadAllBytes(Path.Combine(tiny.RunDirectory("straight"), file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(runDir, file))),
                    $"{file} differs between the uninterrupted and the resumed run");
        }
        finally { if (Directory.Exists(folder) && Environment.GetEnvironmentVariable("RIL_KEEP") is null) Directory.Delete(folder, true); }
    }

    /// <summary>Starts the run and SIGKILLs it once its first checkpoint exists; fails if the run ends first.</summary>
    internal static void KillAfterFirstCheckpoint(string[] command, string runDir)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var checkpoints = Path.Combine(runDir, "checkpoints");
        var clock = Stopwatch.StartNew();
        while (!(Directory.Exists(checkpoints) && Directory.EnumerateDirectories(checkpoints, "step-*").Any()))
        {
            Assert.False(process.HasExited, "the run ended before its first checkpoint could be waited for");
            Assert.True(clock.Elapsed.TotalSeconds < 120, "no checkpoint within 120 s");
            Thread.Sleep(20);
        }
        process.Kill(entireProcessTree: true);   // SIGKILL: no chance to clean up
        process.WaitForExit();
        Assert.False(File.Exists(Path.Combine(runDir, "model", "model.safetensors")) || Directory.Exists(Path.Combine(runDir, "adapter")),
            "the run finished before it was killed; the test needs a longer run");
    }

    static string Recipe(TinyRecipe tiny, string algo, string name)
    {
        var path = algo == "ril" ? tiny.RilRecipe(name, Steps) : tiny.Recipe(name, Steps);
        var text = File.ReadAllText(path).Replace("every: 10", $"every: {CheckpointEvery}").Replace("keep: 1", "keep: 2");
        if (algo == "dr_grpo_lora") text += "lora:\n  rank: 4\n  alpha: 8\n";   // adapters only in the checkpoints and the result
        File.WriteAllText(path, text);
        return path;
    }

    internal static Dictionary<int, JsonObject> MetricsByStep(string runDir) =>
        File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject())
            .GroupBy(m => m["step"]!.GetValue<int>()).ToDictionary(g => g.Key, g => g.Last());

    internal static string Json(JsonNode? node) => node?.ToJsonString() ?? "null";
}

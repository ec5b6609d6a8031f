using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Ril.Cli.Tests;

/// <summary>
/// `ril eval --judge` with a judge that answers garbage: before this test it printed accuracy 0.000 and exited 0, so a
/// broken judge read as a broken model. Now the failures are counted and the exit code says the results are not to be trusted.
/// </summary>
public class JudgeFailureTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-judge-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public async Task An_eval_whose_judge_answers_garbage_exits_non_zero_naming_the_failures()
    {
        var (app, url) = await LoopbackApp.StartAsync(app => app.MapPost("/v1/chat/completions", () => Results.Text(
            """{"id":"c","object":"chat.completion","created":0,"model":"judge","choices":[{"index":0,"message":{"role":"assistant","content":"hard to say"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}}""",
            "application/json")));
        await using var _ = app;

        var data = Path.Combine(_dir, "data");
        var model = Path.Combine(_dir, "model");
        Processes.Check([.. Processes.Ril, "data", "synth", "--out", data, "--train", "40", "--val", "4", "--test", "2", "--image-size", "32"]);
        Processes.Check([.. Processes.Ril, "sft", "--init", "tiny", "--data", Path.Combine(data, "train.jsonl"), "--out", model, "--steps", "2"]);
        var result = Processes.Run([.. Processes.Ril, "eval", "--model", model, "--dataset", Path.Combine(data, "val.jsonl"), "--settings", "0.01:0.001:1",
            "--max-new-tokens", "8", "--out", Path.Combine(_dir, "eval"), "--judge", $"{url}/v1,judge"]);
        Assert.Equal(Commands.EvalCommand.JudgeFailedExitCode, result.ExitCode);
        Assert.Contains("the judge failed 4 of 4 verdicts", result.Output);
        Assert.Contains("4 unreadable", result.Output);

        // Training on the same judge stops at its first step instead of learning from the zeros, and saves nothing of it.
        var tiny = TinyRecipe.Write(Path.Combine(_dir, "tiny"), sftSteps: 5);
        var train = Processes.Run([.. Processes.Ril, "train", "--config", tiny.Recipe("judged", steps: 3), "--set", "reward.answer=judge",
            "--set", $"reward.judge_url={url}/v1", "--set", "reward.judge_model=judge", "--set", "checkpoint.every=1"]);
        Assert.NotEqual(0, train.ExitCode);
        Assert.Matches(@"error: step 1: the judge failed (\d+) of \1 verdicts, more than reward.max_judge_failures \(25", train.Output);
        Assert.DoesNotContain("Unhandled exception", train.Output);
        Assert.False(Directory.Exists(Path.Combine(tiny.RunDirectory("judged"), "checkpoints", "step-000001")), "the failed step was not checkpointed");
    }
}

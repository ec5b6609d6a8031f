using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Ril.Rewards;

namespace Ril.Server.Tests;

/// <summary>Starting and stopping: the `ril serve` command as a process, and a graceful stop with a request in flight.</summary>
public sealed class LifecycleTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-serve-life-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Ril_serve_starts_on_a_free_loopback_port_answers_the_judge_and_stops_on_sigterm()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;   // SIGTERM is how a service manager stops it
        var dir = TinyModel.Write(_folder, "judge-model");
        using var serve = await ServeProcess.StartAsync(dir, "--max-tokens", "8");
        var process = serve.Process;
        var baseUrl = serve.BaseUrl;
        using var endpoint = new EndpointClient(new EndpointOptions
        {
            BaseUrl = new Uri(baseUrl), Model = "judge-model", ApiKeyVariable = "RIL_TEST_NO_SUCH_KEY", Temperature = 1, MaxAttempts = 3,
            BackoffBase = TimeSpan.FromMilliseconds(10), BackoffMax = TimeSpan.FromMilliseconds(50),
        });
        using var cache = JudgeCache.InMemory();
        var verdict = await new LlmJudge(endpoint, cache).JudgeAsync("What is 2 + 3?", "5", "\\boxed{5}");
        Assert.NotEqual(JudgeVerdictSource.EndpointFailure, verdict.Source);
        Assert.False(string.IsNullOrEmpty(verdict.Reply));

        Assert.Equal(0, serve.Terminate());
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "no exit after SIGTERM");
        process.WaitForExit();   // drains the output readers
        string log = serve.Output;
        Assert.True(process.ExitCode == 0, log);
        Assert.Contains("POST /v1/chat/completions 200", log);
        Assert.Matches(@"stopped; \d+ requests served in \d+ generation calls", log);
    }

    [Fact]
    public async Task Stopping_finishes_the_request_in_flight_then_refuses_connections()
    {
        await using var tiny = await TinyServer.StartAsync(TinyServer.Defaults with { DefaultMaxTokens = 400 });
        var inFlight = tiny.PostAsync(tiny.Body("Write a long story.", new JsonObject { ["temperature"] = 1, ["seed"] = 1, ["stop"] = "never-produced-stop" }));
        var clock = Stopwatch.StartNew();
        while (tiny.Server.Statistics.Running == 0 && !inFlight.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(1);
        await tiny.Server.StopAsync();

        using var response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var completion = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True((int)completion["usage"]!["completion_tokens"]! > 0);
        await Assert.ThrowsAsync<HttpRequestException>(() => tiny.PostAsync(tiny.Body()));
    }
}

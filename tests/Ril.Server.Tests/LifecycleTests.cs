using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ril.Rewards;

namespace Ril.Server.Tests;

/// <summary>Starting and stopping: the `ril serve` command as a process, and a graceful stop with a request in flight.</summary>
public sealed partial class LifecycleTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-serve-life-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    [GeneratedRegex(@"at (http://127\.0\.0\.1:\d+/v1)")]
    private static partial Regex ServingAt();

    [Fact]
    public async Task Ril_serve_starts_on_a_free_loopback_port_answers_the_judge_and_stops_on_sigterm()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;   // SIGTERM is how a service manager stops it
        var dir = TinyModel.Write(_folder, "judge-model");
        var cli = Path.Combine(AppContext.BaseDirectory, "Ril.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { cli, "serve", "--model", dir, "--port", "0", "--max-tokens", "8" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            if (ServingAt().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var baseUrl = await address.Task.WaitAsync(TimeSpan.FromSeconds(30));
            using var endpoint = new EndpointClient(new EndpointOptions
            {
                BaseUrl = new Uri(baseUrl), Model = "judge-model", ApiKeyVariable = "RIL_TEST_NO_SUCH_KEY", Temperature = 1, MaxAttempts = 3,
                BackoffBase = TimeSpan.FromMilliseconds(10), BackoffMax = TimeSpan.FromMilliseconds(50),
            });
            using var cache = JudgeCache.InMemory();
            var verdict = await new LlmJudge(endpoint, cache).JudgeAsync("What is 2 + 3?", "5", "\\boxed{5}");
            Assert.NotEqual(JudgeVerdictSource.EndpointFailure, verdict.Source);
            Assert.False(string.IsNullOrEmpty(verdict.Reply));

            Assert.Equal(0, kill(process.Id, 15));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "no exit after SIGTERM");
            process.WaitForExit();   // drains the output readers
            string log;
            lock (output) log = output.ToString();
            Assert.True(process.ExitCode == 0, log);
            Assert.Contains("POST /v1/chat/completions 200", log);
            Assert.Matches(@"stopped; \d+ requests served in \d+ generation calls", log);
        }
        finally { if (!process.HasExited) process.Kill(); }
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

using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Ril.Server.Tests;

/// <summary>Many clients at once: streams, bad requests among them, and the batching that serves them.</summary>
public sealed class LoadTests(ITestOutputHelper output) : IAsyncLifetime
{
    TinyServer _tiny = null!;

    public async Task InitializeAsync() => _tiny = await TinyServer.StartAsync();

    public async Task DisposeAsync() => await _tiny.DisposeAsync();

    /// <summary>What one streamed reply held, checked chunk by chunk.</summary>
    sealed record StreamResult(int Choices, string[] Texts, string[] FinishReasons, JsonObject? Usage);

    /// <summary>Reads a server-sent-event stream to [DONE], failing on any malformed event.</summary>
    async Task<StreamResult> Stream(int seed, int n)
    {
        var body = _tiny.Body($"Question {seed}: what is {seed} + 1?", new JsonObject
        {
            ["stream"] = true, ["n"] = n, ["seed"] = seed, ["max_tokens"] = 10, ["stream_options"] = new JsonObject { ["include_usage"] = true },
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, _tiny.Url("/chat/completions")) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await _tiny.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var texts = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var finish = new string?[n];
        var roles = new int[n];
        string? id = null;
        JsonObject? usage = null;
        bool done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0) continue;                                   // the blank line after each event
            Assert.StartsWith("data: ", line);
            Assert.False(done, "an event after [DONE]");
            var data = line["data: ".Length..];
            if (data == "[DONE]") { done = true; continue; }
            var chunk = JsonNode.Parse(data)!.AsObject();
            Assert.Null(chunk["error"]);
            Assert.Equal("chat.completion.chunk", (string?)chunk["object"]);
            Assert.Equal(_tiny.Server.ModelName, (string?)chunk["model"]);
            id ??= (string?)chunk["id"];
            Assert.Equal(id, (string?)chunk["id"]);
            var choices = chunk["choices"]!.AsArray();
            if (choices.Count == 0) { Assert.Null(usage); usage = chunk["usage"]!.AsObject(); continue; }
            var choice = Assert.Single(choices)!;
            int index = (int)choice["index"]!;
            var delta = choice["delta"]!.AsObject();
            Assert.Null(finish[index]);                                       // nothing after a choice's end
            if (delta["role"] is { } role) { Assert.Equal("assistant", (string?)role); roles[index]++; }
            else Assert.Equal(1, roles[index]);                               // the role comes first
            if (delta["content"] is { } content) texts[index].Append((string?)content);
            finish[index] = (string?)choice["finish_reason"];
        }
        Assert.True(done, "the stream ended without [DONE]");
        Assert.All(roles, r => Assert.Equal(1, r));
        Assert.All(finish, f => Assert.Contains(f, new[] { "stop", "length" }));
        return new(n, texts.Select(t => t.ToString()).ToArray(), finish!, usage);
    }

    async Task<(HttpStatusCode Status, JsonObject Error)> Bad(string body)
    {
        using var response = await _tiny.PostAsync(body);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        var error = json["error"]!.AsObject();
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.False(string.IsNullOrEmpty((string?)error["message"]));
        return (response.StatusCode, error);
    }

    [Fact]
    public async Task Thirty_two_streams_complete_while_bad_requests_get_400_and_413()
    {
        int before = (int)_tiny.Server.Statistics.Requests;
        var streams = Enumerable.Range(0, 32).Select(i => Task.Run(() => Stream(seed: i, n: i % 4 == 0 ? 2 : 1))).ToArray();
        var huge = _tiny.Body(new string('x', 300 << 10));
        var bad = new (string Body, HttpStatusCode Status, string? Param, string Code)[]
        {
            ("{\"model\": \"tiny-vlm\", \"messages\": [", HttpStatusCode.BadRequest, null, "invalid_json"),
            ("[1, 2, 3]", HttpStatusCode.BadRequest, null, "invalid_json"),
            (_tiny.Body(extra: new JsonObject { ["temperature"] = "hot" }), HttpStatusCode.BadRequest, "temperature", "invalid_type"),
            (_tiny.Body(extra: new JsonObject { ["n"] = "2" }), HttpStatusCode.BadRequest, "n", "invalid_type"),
            (_tiny.Body(extra: new JsonObject { ["stream"] = "yes" }), HttpStatusCode.BadRequest, "stream", "invalid_type"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", HttpStatusCode.BadRequest, "messages[0].content", "invalid_type"),
            ("{\"model\": \"tiny-vlm\"}", HttpStatusCode.BadRequest, "messages", "missing_required_parameter"),
            ("{\"messages\": []}", HttpStatusCode.BadRequest, "messages", "invalid_value"),
            (huge, HttpStatusCode.RequestEntityTooLarge, null, "request_too_large"),
        };
        // The bad requests go while the streams are being generated.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (_tiny.Server.Statistics.Running == 0 && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(1);
        var rejections = bad.Select(b => Task.Run(async () => (b, await Bad(b.Body)))).ToArray();
        var rejected = await Task.WhenAll(rejections);
        output.WriteLine($"bad requests answered with {streams.Count(s => !s.IsCompleted)} of 32 streams still open");

        foreach (var (expected, (status, error)) in rejected)
        {
            Assert.Equal(expected.Status, status);
            Assert.Equal(expected.Param, (string?)error["param"]);
            Assert.Equal(expected.Code, (string?)error["code"]);
        }
        var results = await Task.WhenAll(streams);

        Assert.Equal(32, results.Length);
        foreach (var result in results)
        {
            Assert.NotNull(result.Usage);
            int completion = (int)result.Usage["completion_tokens"]!;
            Assert.InRange(completion, result.Choices, result.Choices * 10);
            Assert.Equal((int)result.Usage["prompt_tokens"]! + completion, (int)result.Usage["total_tokens"]!);
        }
        var stats = _tiny.Server.Statistics;
        output.WriteLine($"{stats}\n{_tiny.Log}");
        Assert.Equal(32, stats.Requests - before);
        Assert.True(stats.GenerateCalls < stats.Requests, $"{stats.Requests} requests took {stats.GenerateCalls} generation calls");
        // The server still serves after all that.
        using var after = await _tiny.PostAsync(_tiny.Body());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(32 + 9 + 1, _tiny.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Concurrent_requests_share_generation_calls_and_differing_options_do_not()
    {
        var before = _tiny.Server.Statistics;
        var same = Enumerable.Range(0, 8).Select(i => _tiny.PostAsync(_tiny.Body($"Tell me about {i}.", new JsonObject { ["seed"] = i, ["max_tokens"] = 6 })));
        var other = Enumerable.Range(0, 4).Select(i => _tiny.PostAsync(_tiny.Body($"Tell me about {i}.", new JsonObject { ["temperature"] = 0, ["max_tokens"] = 6 })));
        var responses = await Task.WhenAll(same.Concat(other));
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var completion = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal("chat.completion", (string?)completion["object"]);
            Assert.NotNull((string?)completion["choices"]![0]!["message"]!["content"]);
            response.Dispose();
        }
        var after = _tiny.Server.Statistics;
        output.WriteLine($"{after}\n{_tiny.Log}");
        long requests = after.Requests - before.Requests, calls = after.GenerateCalls - before.GenerateCalls;
        Assert.Equal(12, requests);
        Assert.InRange(calls, 2, 11);          // at least one call per set of options, fewer calls than requests
        Assert.True(after.LargestCall >= 2);
    }
}

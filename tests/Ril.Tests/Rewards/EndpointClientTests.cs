using System.Diagnostics;
using System.Globalization;
using OpenAI.Chat;
using Ril.Rewards;

namespace Ril.Tests.Rewards;

/// <summary>The shared retry logic against a real HTTP endpoint that injects faults.</summary>
public class EndpointClientTests
{
    /// <summary>Short backoff, so the tests stay fast; a timeout long enough for a busy 2-core machine.</summary>
    /// <param name="timeoutSeconds">Per attempt. The default is far beyond any ordinary reply, even the first one of a
    /// loaded CI machine (which took over 3 s once); tests of the "too slow" fault pass <see cref="TimeoutFaultSeconds"/>.</param>
    internal static EndpointOptions FastOptions(Uri baseUrl, int attempts = 4, int concurrency = 4, int timeoutSeconds = 30) => new()
    {
        BaseUrl = baseUrl,
        Model = "fake-judge",
        ApiKeyVariable = "RIL_TEST_NO_SUCH_KEY",
        Temperature = 0,
        MaxTokens = 64,
        MaxConcurrency = concurrency,
        RequestTimeout = TimeSpan.FromSeconds(timeoutSeconds),
        MaxAttempts = attempts,
        BackoffBase = TimeSpan.FromMilliseconds(1),
        BackoffMax = TimeSpan.FromMilliseconds(20),
    };

    /// <summary>The per-attempt timeout of tests that script a "too slow" reply (which takes 30 s): long enough that
    /// no ordinary reply of a loaded machine reaches it, short enough to keep the test quick.</summary>
    internal const int TimeoutFaultSeconds = 10;

    static IReadOnlyList<ChatMessage> Ask(string key) => [new UserChatMessage(key)];

    [Fact]
    public async Task Retries_exactly_the_faults_and_counts_every_request()
    {
        // Per key: the behaviour of attempt 1, 2, 3, …; the last one repeats.
        var scripts = new Dictionary<string, Behaviour[]>
        {
            ["ok-0"] = [new Behaviour.Reply("answer 0")],
            ["ok-1"] = [new Behaviour.Reply("answer 1")],
            ["ok-2"] = [new Behaviour.Reply("answer 2")],
            ["rate-limited"] = [new Behaviour.Status(429, "0"), new Behaviour.Reply("after 429")],
            ["server-errors"] = [new Behaviour.Status(500), new Behaviour.Status(502), new Behaviour.Reply("after 5xx")],
            ["garbage"] = [new Behaviour.Garbage(), new Behaviour.Garbage("{\"choices\": 7}"), new Behaviour.Reply("after garbage")],
            ["slow"] = [new Behaviour.Slow(TimeSpan.FromSeconds(30), "too late"), new Behaviour.Reply("after timeout")],
            ["always-503"] = [new Behaviour.Status(503)],
            ["bad-request"] = [new Behaviour.Status(400), new Behaviour.Reply("never asked")],
        };
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText,
            (key, attempt) => scripts[key][Math.Min(attempt, scripts[key].Length) - 1]);
        using var client = new EndpointClient(FastOptions(server.BaseUrl, attempts: 4, timeoutSeconds: TimeoutFaultSeconds), jitterSeed: 1);

        var replies = await Task.WhenAll(scripts.Keys.Select(async key => (key, reply: await client.CompleteAsync(Ask(key)))));
        var byKey = replies.ToDictionary(r => r.key, r => r.reply);

        Assert.Equal("answer 0", byKey["ok-0"].Text);
        Assert.Equal("after 429", byKey["rate-limited"].Text);
        Assert.Equal("after 5xx", byKey["server-errors"].Text);
        Assert.Equal("after garbage", byKey["garbage"].Text);
        Assert.Equal("after timeout", byKey["slow"].Text);
        Assert.False(byKey["always-503"].Succeeded);
        Assert.Contains("HTTP 503", byKey["always-503"].Error);
        Assert.Contains("Service Unavailable: scripted 503", byKey["always-503"].Error);   // the body's message, once (it used to read "HTTP 503: HTTP 503 (…)")
        Assert.DoesNotContain("HTTP 503 (", byKey["always-503"].Error);
        Assert.False(byKey["bad-request"].Succeeded);
        Assert.Contains("HTTP 400", byKey["bad-request"].Error);

        // Attempts per key, as the server counted them and as each reply reports them.
        var expected = new Dictionary<string, int>
        {
            ["ok-0"] = 1, ["ok-1"] = 1, ["ok-2"] = 1, ["rate-limited"] = 2, ["server-errors"] = 3, ["garbage"] = 3,
            ["slow"] = 2, ["always-503"] = 4, ["bad-request"] = 1,
        };
        var seen = server.Received.GroupBy(r => r.Key).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(expected.OrderBy(kv => kv.Key), seen.OrderBy(kv => kv.Key));
        foreach (var (key, attempts) in expected) Assert.Equal(attempts, byKey[key].Attempts);

        var stats = client.Statistics.Snapshot();
        Assert.Equal(scripts.Count, stats.Calls);
        Assert.Equal(7, stats.Succeeded);
        Assert.Equal(2, stats.Failed);
        Assert.Equal(server.Received.Count, stats.Attempts);
        Assert.Equal(stats.Attempts - stats.Calls, stats.Retries);  // every attempt after a call's first is a retry
        Assert.Equal(1, stats.RateLimited);
        Assert.Equal(2 + 4, stats.ServerErrors);
        Assert.Equal(2, stats.InvalidReplies);
        Assert.Equal(1, stats.Timeouts);
        Assert.Equal(1, stats.ClientErrors);
        Assert.Equal(0, stats.NetworkErrors);
    }

    [Fact]
    public async Task Replies_in_other_servers_shapes_are_read()
    {
        static string Completion(string choice) => $$"""{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{{choice}}]}""";
        var scripts = new Dictionary<string, Behaviour>
        {
            // The package's typed reader throws on these finish reasons; the text is still good.
            ["null-finish"] = new Behaviour.Raw(Completion("""{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":null}""")),
            ["abort-finish"] = new Behaviour.Raw(Completion("""{"index":0,"message":{"role":"assistant","content":"b"},"finish_reason":"abort"}""")),
            ["no-usage-parts"] = new Behaviour.Raw(Completion("""{"message":{"content":[{"type":"text","text":"c"},{"type":"text","text":"d"}]}}""")),
        };
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText, (key, _) => scripts[key]);
        using var client = new EndpointClient(FastOptions(server.BaseUrl, attempts: 1));
        Assert.Equal("a", (await client.CompleteAsync(Ask("null-finish"))).Text);
        var abort = await client.CompleteAsync(Ask("abort-finish"));
        Assert.Equal(("b", "abort"), (abort.Text, abort.FinishReason));
        Assert.Equal("cd", (await client.CompleteAsync(Ask("no-usage-parts"))).Text);
        Assert.Equal(0, client.Statistics.Snapshot().InvalidReplies);
    }

    [Fact]
    public async Task The_request_carries_the_model_sampling_settings_and_messages()
    {
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText, (_, _) => new Behaviour.Reply("ok"));
        using var client = new EndpointClient(FastOptions(server.BaseUrl) with { Temperature = 0.7f, TopP = 0.95f, MaxTokens = 321 });
        await client.CompleteAsync([new SystemChatMessage("be brief"), new UserChatMessage("hello")]);
        var body = server.Received.Single().Body;
        Assert.Equal("fake-judge", (string?)body["model"]);
        Assert.Equal(0.7, (double)body["temperature"]!, 5);
        Assert.Equal(0.95, (double)body["top_p"]!, 5);
        Assert.Equal(321, (int)body["max_completion_tokens"]!);
        Assert.Equal("""[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}]""", body["messages"]!.ToJsonString());
    }

    [Fact]
    public async Task Retry_after_in_seconds_is_honoured()
    {
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText,
            (_, attempt) => attempt == 1 ? new Behaviour.Status(429, "1") : new Behaviour.Reply("ok"));
        using var client = new EndpointClient(FastOptions(server.BaseUrl));
        var reply = await client.CompleteAsync(Ask("wait-one-second"));
        Assert.Equal("ok", reply.Text);
        var received = server.Received;
        Assert.Equal(2, received.Count);
        // The backoff alone would wait at most 20 ms.
        Assert.True(received[1].At - received[0].At >= TimeSpan.FromMilliseconds(950), $"retried after {(received[1].At - received[0].At).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Retry_after_as_an_http_date_is_honoured()
    {
        // The server asks for a retry no earlier than a date two seconds ahead (HTTP dates have whole seconds).
        DateTimeOffset? notBefore = null;
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText,
            (_, attempt) =>
            {
                if (attempt != 1) return new Behaviour.Reply("ok");
                var date = DateTimeOffset.UtcNow.AddSeconds(2).ToString("r", CultureInfo.InvariantCulture);
                notBefore = DateTimeOffset.ParseExact(date, "r", CultureInfo.InvariantCulture);
                return new Behaviour.Status(503, date);
            });
        using var client = new EndpointClient(FastOptions(server.BaseUrl));
        var reply = await client.CompleteAsync(Ask("wait-until"));
        Assert.Equal("ok", reply.Text);
        var received = server.Received;
        Assert.Equal(2, received.Count);
        // The retry comes at or after that date (a slow machine can only make it later; the backoff alone would wait at most 20 ms).
        Assert.True(received[1].At >= notBefore!.Value.UtcDateTime.AddMilliseconds(-20),
            $"retried at {received[1].At:HH:mm:ss.fff}, the server asked for no earlier than {notBefore:HH:mm:ss.fff}");
    }

    [Fact]
    public void Retry_after_parsing()
    {
        var now = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(120), EndpointClient.ParseRetryAfter("120", now));
        Assert.Equal(TimeSpan.FromSeconds(1.5), EndpointClient.ParseRetryAfter(" 1.5 ", now));
        Assert.Equal(TimeSpan.FromSeconds(10), EndpointClient.ParseRetryAfter("Thu, 02 Jan 2025 03:04:15 GMT", now));
        Assert.Equal(TimeSpan.Zero, EndpointClient.ParseRetryAfter("Thu, 02 Jan 2025 03:00:00 GMT", now));  // already past
        Assert.Null(EndpointClient.ParseRetryAfter("soon", now));
        Assert.Null(EndpointClient.ParseRetryAfter("-3", now));
        Assert.Null(EndpointClient.ParseRetryAfter(null, now));
    }

    [Fact]
    public void Backoff_is_full_jitter_capped_and_a_retry_after_is_capped()
    {
        using var client = new EndpointClient(new EndpointOptions
        {
            BaseUrl = new Uri("http://127.0.0.1:9/v1"), Model = "m",
            BackoffBase = TimeSpan.FromMilliseconds(100), BackoffMax = TimeSpan.FromMilliseconds(1000), MaxRetryAfter = TimeSpan.FromSeconds(30),
        }, jitterSeed: 7);
        for (int failed = 1; failed <= 8; failed++)
        {
            double ceiling = Math.Min(1000, 100 * Math.Pow(2, failed - 1));
            var draws = Enumerable.Range(0, 200).Select(_ => client.BackoffBefore(failed, null).TotalMilliseconds).ToList();
            Assert.All(draws, d => Assert.InRange(d, 0, ceiling));
            Assert.True(draws.Max() > 0.8 * ceiling && draws.Min() < 0.2 * ceiling, $"draws for retry {failed} do not spread over [0, {ceiling}]");
        }
        Assert.Equal(TimeSpan.FromSeconds(3), client.BackoffBefore(1, TimeSpan.FromSeconds(3)));
        Assert.Equal(TimeSpan.FromSeconds(30), client.BackoffBefore(1, TimeSpan.FromHours(2)));
    }

    [Fact]
    public async Task Concurrency_is_bounded()
    {
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText,
            (_, _) => new Behaviour.Slow(TimeSpan.FromMilliseconds(60), "ok"));
        using var client = new EndpointClient(FastOptions(server.BaseUrl, concurrency: 3));
        var replies = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => client.CompleteAsync(Ask($"q{i}"))));
        Assert.All(replies, r => Assert.Equal("ok", r.Text));
        Assert.InRange(server.MaxInFlight, 1, 3);
        Assert.InRange(client.Statistics.Snapshot().MaxInFlight, 2, 3);
        Assert.Equal(24, server.Received.Count);
    }

    [Fact]
    public async Task An_unreachable_endpoint_fails_after_its_attempts_without_throwing()
    {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        using var client = new EndpointClient(FastOptions(new Uri("http://127.0.0.1:9/v1"), attempts: 3));
        var reply = await client.CompleteAsync(Ask("anyone?"));
        Assert.False(reply.Succeeded);
        Assert.Equal(3, reply.Attempts);
        var stats = client.Statistics.Snapshot();
        Assert.Equal(3, stats.NetworkErrors + stats.Timeouts);
        Assert.Equal(1, stats.Failed);
    }

    [Fact]
    public async Task The_callers_cancellation_stops_a_call()
    {
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText,
            (_, _) => new Behaviour.Slow(TimeSpan.FromSeconds(30), "late"));
        using var client = new EndpointClient(FastOptions(server.BaseUrl) with { RequestTimeout = TimeSpan.FromSeconds(20) });
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.CompleteAsync(Ask("stop"), cancel.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Bad_options_are_refused_with_their_name()
    {
        var good = new EndpointOptions { BaseUrl = new Uri("http://127.0.0.1:8000/v1"), Model = "m" };
        Assert.Contains("concurrency", Assert.Throws<ArgumentException>(() => (good with { MaxConcurrency = 0 }).Validate()).Message);
        Assert.Contains("attempts", Assert.Throws<ArgumentException>(() => (good with { MaxAttempts = 0 }).Validate()).Message);
        Assert.Contains("model", Assert.Throws<ArgumentException>(() => (good with { Model = " " }).Validate()).Message);
        Assert.Contains("http", Assert.Throws<ArgumentException>(() => (good with { BaseUrl = new Uri("ftp://x/v1") }).Validate()).Message);
    }

    /// <summary>
    /// A reply larger than the limit fails the attempt instead of being held whole (before, a 150 MB teacher reply was
    /// read and stored); a reply under it is read as before.
    /// </summary>
    [Fact]
    public async Task A_reply_over_the_byte_limit_fails_instead_of_being_held()
    {
        var huge = new string('x', 300_000);
        await using var server = await FakeChatEndpoint.StartAsync(FakeChatEndpoint.LastUserText,
            (key, _) => new Behaviour.Reply(key == "huge" ? huge : "small"));
        using var client = new EndpointClient(FastOptions(server.BaseUrl, attempts: 1) with { MaxReplyBytes = 100_000 });
        var reply = await client.CompleteAsync(Ask("huge"));
        Assert.False(reply.Succeeded);
        Assert.Contains("limit of 100000", reply.Error);
        Assert.Equal("small", (await client.CompleteAsync(Ask("fine"))).Text);
    }
}

using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ril.Rewards;

namespace Ril.Tests.Rewards;

/// <summary>The judge over real HTTP: RIL's prompt, verdict parsing, failure policies, the on-disk cache, fault injection.</summary>
public sealed class LlmJudgeTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-judge-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>The generated text inside the judge prompt: the script key.</summary>
    static string GeneratedText(JsonObject body) =>
        Regex.Match(FakeChatEndpoint.LastUserText(body), "<generated text>(.*)</generated text>", RegexOptions.Singleline).Groups[1].Value;

    /// <summary>A judge that says 1 when the generated text contains "right", 0 when "wrong", and misbehaves as told by the rest.</summary>
    static Behaviour HonestJudge(string generated) =>
        generated.Contains("mumble") ? new Behaviour.Reply("I think it is fine, probably.")
        : generated.Contains("out-of-range") ? new Behaviour.Reply("<answer>2</answer>")
        : generated.Contains("right") ? new Behaviour.Reply("The generated answer matches. <answer>1</answer>")
        : new Behaviour.Reply("It does not match. <answer>0</answer>");

    static RewardInput Input(string response, string groundTruth = "12") => new("q1", "<image>Find the perimeter.", groundTruth, response);

    [Fact]
    public async Task Asks_with_rils_prompt_text_only_and_parses_the_verdict()
    {
        await using var server = await FakeChatEndpoint.StartAsync(GeneratedText, (key, _) => HonestJudge(key));
        using var endpoint = new EndpointClient(EndpointClientTests.FastOptions(server.BaseUrl));
        using var cache = JudgeCache.InMemory();
        var judge = new LlmJudge(endpoint, cache);

        var scores = await judge.ScoreAsync([Input("so it is \\boxed{12}, right"), Input("I get \\boxed{13}, wrong")]);
        Assert.Equal([1f, 0f], scores);

        var body = server.Received[0].Body;
        Assert.Equal("fake-judge", (string?)body["model"]);
        var messages = body["messages"]!.AsArray();
        Assert.Equal("system", (string?)messages[0]!["role"]);
        Assert.Contains("<answer></answer>", (string?)messages[0]!["content"]);
        var user = (string)messages[1]!["content"]!;
        Assert.StartsWith("<question>Find the perimeter.</question> <ground truth>12</ground truth> <generated text>", user);
        Assert.DoesNotContain("<image>", user);
        Assert.DoesNotContain("image_url", body.ToJsonString());
        Assert.Equal(0, (double?)body["temperature"]);
    }

    [Theory]
    [InlineData("ok <answer>1</answer>", 1)]
    [InlineData("<answer> 0 </answer>", 0)]
    [InlineData("<ANSWER>1</ANSWER>", 1)]
    [InlineData("first <answer>0</answer>, on reflection <answer>1</answer>", 1)]
    [InlineData("<answer>1.0</answer>", 1)]
    [InlineData("<answer>yes</answer>", null)]
    [InlineData("<answer>10</answer>", null)]
    [InlineData("1", null)]
    [InlineData("<answer>1", null)]
    [InlineData("", null)]
    public void Verdict_parsing(string reply, int? expected) => Assert.Equal(expected, JudgePrompt.ParseVerdict(reply));

    [Fact]
    public async Task A_missing_verdict_scores_by_the_policy_and_is_counted()
    {
        await using var server = await FakeChatEndpoint.StartAsync(GeneratedText,
            (key, _) => key.Contains("down") ? new Behaviour.Status(500) : HonestJudge(key));
        var batch = new[]
        {
            Input("\\boxed{12} mumble"),        // parse failure, verifier says 1
            Input("\\boxed{13} mumble"),        // parse failure, verifier says 0
            Input("\\boxed{12} out-of-range"),  // parse failure (2 is no verdict)
            Input("\\boxed{12} down"),          // endpoint failure after 3 attempts, verifier says 1
            Input("\\boxed{12} right"),
        };
        foreach (var policy in new[] { JudgeFailurePolicy.ScoreZero, JudgeFailurePolicy.FallBackToVerifier })
        {
            using var endpoint = new EndpointClient(EndpointClientTests.FastOptions(server.BaseUrl, attempts: 3));
            using var cache = JudgeCache.InMemory();
            var judge = new LlmJudge(endpoint, cache, policy);
            var scores = await judge.ScoreAsync(batch);
            Assert.Equal(policy == JudgeFailurePolicy.ScoreZero ? [0f, 0f, 0f, 0f, 1f] : [1f, 0f, 1f, 1f, 1f], scores);
            var stats = judge.Statistics;
            Assert.Equal(5, stats.Requests);
            Assert.Equal(5, stats.Calls);
            Assert.Equal(3, stats.ParseFailures);
            Assert.Equal(1, stats.EndpointFailures);
            Assert.Equal(policy == JudgeFailurePolicy.ScoreZero ? 0 : 4, stats.FallbackScores);
            Assert.Equal(1, stats.Ones);
            Assert.Equal(3 + 1 + 3, stats.Endpoint.Attempts);  // three parse failures and one success in one attempt each, the 500s three times
            Assert.Equal(1, cache.Count);                       // failures are not cached: a resumed run asks again
        }
    }

    [Fact]
    public async Task The_cache_on_disk_means_a_resumed_run_never_pays_twice()
    {
        var path = Path.Combine(_folder, "judge.jsonl");
        await using var server = await FakeChatEndpoint.StartAsync(GeneratedText, (key, _) => HonestJudge(key));
        var batch = Enumerable.Range(0, 12).Select(i => Input($"attempt {i}: {(i % 3 == 0 ? "right" : "wrong")}")).ToList();

        using (var endpoint = new EndpointClient(EndpointClientTests.FastOptions(server.BaseUrl)))
        using (var cache = JudgeCache.Open(path))
        {
            var judge = new LlmJudge(endpoint, cache);
            Assert.Equal(batch.Take(8).Select((_, i) => i % 3 == 0 ? 1f : 0f), await judge.ScoreAsync(batch.Take(8).ToList()));
            Assert.Equal(8, judge.Statistics.Calls);
        }
        Assert.Equal(8, File.ReadAllLines(path).Length);
        Assert.Equal(8, server.Received.Count);

        // A second run over the whole batch: the 8 already judged come from disk, 4 are asked.
        using (var endpoint = new EndpointClient(EndpointClientTests.FastOptions(server.BaseUrl)))
        using (var cache = JudgeCache.Open(path))
        {
            var judge = new LlmJudge(endpoint, cache);
            Assert.Equal(batch.Select((_, i) => i % 3 == 0 ? 1f : 0f), await judge.ScoreAsync(batch));
            Assert.Equal(4, judge.Statistics.Calls);
            Assert.Equal(8, judge.Statistics.CacheHits);
        }
        Assert.Equal(12, server.Received.Count);
        Assert.Equal(12, server.Received.Select(r => r.Key).Distinct().Count());

        // Another judge model is another key.
        using (var endpoint = new EndpointClient(EndpointClientTests.FastOptions(server.BaseUrl) with { Model = "other-judge" }))
        using (var cache = JudgeCache.Open(path))
        {
            var judge = new LlmJudge(endpoint, cache);
            await judge.ScoreAsync(batch.Take(2).ToList());
            Assert.Equal(2, judge.Statistics.Calls);
        }
    }

    [Fact]
    public void Cache_keys_separate_every_field_and_a_torn_last_line_is_repaired()
    {
        Assert.NotEqual(JudgeCache.Key("m", "ab", "c", "d"), JudgeCache.Key("m", "a", "bc", "d"));
        Assert.NotEqual(JudgeCache.Key("m", "q", "gt", "r"), JudgeCache.Key("m2", "q", "gt", "r"));
        Assert.Equal(JudgeCache.Key("m", "q", "gt", "r"), JudgeCache.Key("m", "q", "gt", "r"));

        var path = Path.Combine(_folder, "torn.jsonl");
        using (var cache = JudgeCache.Open(path))
        {
            cache.Add(new JudgeCacheEntry(JudgeCache.Key("m", "q", "gt", "a"), "m", 1, "<answer>1</answer>"));
            cache.Add(new JudgeCacheEntry(JudgeCache.Key("m", "q", "gt", "b"), "m", 0, "<answer>0</answer>"));
        }
        File.AppendAllText(path, "{\"key\":\"abc\",\"mod");  // a run killed mid-write
        using (var cache = JudgeCache.Open(path))
        {
            Assert.Equal(2, cache.Count);
            Assert.True(cache.RepairedBytes > 0);
            Assert.True(cache.TryGet(JudgeCache.Key("m", "q", "gt", "b"), out var entry));
            Assert.Equal(0, entry.Verdict);
            cache.Add(new JudgeCacheEntry(JudgeCache.Key("m", "q", "gt", "c"), "m", 1, "<answer>1</answer>"));
        }
        Assert.Equal(3, File.ReadAllLines(path).Length);

        File.WriteAllText(path, "{\"key\":\"k\",\"model\":\"m\",\"verdict\":7}\n");
        var error = Assert.Throws<Ril.Data.DataFormatException>(() => JudgeCache.Open(path));
        Assert.Contains("torn.jsonl:1: field 'verdict'", error.Message);
    }

    [Fact]
    public async Task Faults_are_retried_and_no_request_is_lost_or_double_counted()
    {
        // 40 distinct responses, each also asked twice more in the same batch (120 inputs). Faults by key:
        // i % 8 == 1: 429 then a verdict; == 2: 500, 503, then a verdict; == 3: garbage then a verdict;
        // == 4: too slow then a verdict; == 5: 500 on every attempt (exhausted).
        static Behaviour Script(string key, int attempt)
        {
            int i = int.Parse(Regex.Match(key, @"#(\d+)").Groups[1].Value);
            Behaviour[] plan = (i % 8) switch
            {
                1 => [new Behaviour.Status(429, "0")],
                2 => [new Behaviour.Status(500), new Behaviour.Status(503)],
                3 => [new Behaviour.Garbage()],
                4 => [new Behaviour.Slow(TimeSpan.FromSeconds(30), "<answer>1</answer>")],
                5 => [new Behaviour.Status(500), new Behaviour.Status(500), new Behaviour.Status(500), new Behaviour.Status(500)],
                _ => [],
            };
            return attempt <= plan.Length ? plan[attempt - 1] : HonestJudge(key);
        }
        await using var server = await FakeChatEndpoint.StartAsync(GeneratedText, Script);
        using var endpoint = new EndpointClient(EndpointClientTests.FastOptions(server.BaseUrl, attempts: 4, concurrency: 6, timeoutSeconds: EndpointClientTests.TimeoutFaultSeconds));
        using var cache = JudgeCache.Open(Path.Combine(_folder, "faults.jsonl"));
        var judge = new LlmJudge(endpoint, cache, JudgeFailurePolicy.ScoreZero);

        var distinct = Enumerable.Range(0, 40).Select(i => Input($"response #{i} is {(i % 2 == 0 ? "right" : "wrong")}")).ToList();
        var batch = distinct.Concat(distinct).Concat(distinct).ToList();
        var scores = await judge.ScoreAsync(batch);

        for (int k = 0; k < batch.Count; k++)
        {
            int i = k % 40;
            float expected = i % 8 == 5 ? 0f : i % 2 == 0 ? 1f : 0f;
            Assert.True(expected == scores[k], $"input {k} (response #{i}) scored {scores[k]}");
        }
        // The server saw each distinct response exactly as often as its script needs: never more (no
        // double-counting, the duplicates waited for the first), never fewer (nothing lost).
        var perKey = server.Received.GroupBy(r => r.Key).ToDictionary(g => int.Parse(Regex.Match(g.Key, @"#(\d+)").Groups[1].Value), g => g.Count());
        Assert.Equal(40, perKey.Count);
        foreach (var (i, count) in perKey)
            Assert.True(((i % 8) switch { 1 => 2, 2 => 3, 3 => 2, 4 => 2, 5 => 4, _ => 1 }) == count, $"response #{i} was sent {count} times");

        var stats = judge.Statistics;
        Assert.Equal(120, stats.Requests);
        Assert.Equal(40, stats.Calls);
        Assert.Equal(80, stats.CacheHits);
        Assert.Equal(5, stats.EndpointFailures);          // i = 5, 13, 21, 29, 37
        Assert.Equal(0, stats.ParseFailures);
        Assert.Equal(server.Received.Count, stats.Endpoint.Attempts);
        Assert.Equal(5, stats.Endpoint.RateLimited);
        Assert.Equal(5 * 2 + 5 * 4, stats.Endpoint.ServerErrors);
        Assert.Equal(5, stats.Endpoint.InvalidReplies);
        Assert.Equal(5, stats.Endpoint.Timeouts);
        Assert.Equal(35, cache.Count);                    // the exhausted five are not cached
        // The client keeps at most 6 requests open; a request it abandoned on a timeout (the five "too slow" ones) may still
        // be held by the server while the client's next one arrives, so the server can count up to 6 + 5 at once.
        Assert.InRange(server.MaxInFlight, 1, 6 + 5);
        Assert.Contains("40 calls", stats.ToString());
    }
}

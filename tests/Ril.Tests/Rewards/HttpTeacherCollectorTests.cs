using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Data.Teachers;
using Ril.Rewards;

namespace Ril.Tests.Rewards;

/// <summary>The teacher collector over real HTTP against the fault-injecting endpoint.</summary>
public sealed class HttpTeacherCollectorTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-collect-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Six questions: one with a PNG image, one with a PPM image, four text-only.</summary>
    List<DatasetRow> WriteDataset()
    {
        var picture = new Image(3, 2, 3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 90, 90, 90, 200, 200, 200]);
        Directory.CreateDirectory(Path.Combine(_folder, "images"));
        File.WriteAllBytes(Path.Combine(_folder, "images", "q0.png"), PngEncoder.Encode(picture));
        File.WriteAllBytes(Path.Combine(_folder, "images", "q1.ppm"), Pnm.Encode(picture));
        var lines = Enumerable.Range(0, 6).Select(i => new JsonObject
        {
            ["id"] = $"q{i}",
            ["question"] = $"<image>Question {i}: find x.",
            ["answer"] = $"{i}",
            ["solution"] = $"\\boxed{{{i}}}",
            ["image"] = i switch { 0 => "images/q0.png", 1 => "images/q1.ppm", _ => "" },
        }.ToJsonString());
        var path = Path.Combine(_folder, "questions.jsonl");
        File.WriteAllLines(path, lines);
        return JsonlDataset.Load(path);
    }

    static EndpointOptions Defaults => EndpointClientTests.FastOptions(new Uri("http://127.0.0.1:1/v1"), attempts: 6, concurrency: 3, timeoutSeconds: EndpointClientTests.TimeoutFaultSeconds) with { Temperature = 1.0f };

    /// <summary>Which teacher and question a request is for: "alpha/Question 3".</summary>
    static string KeyOf(JsonObject body) =>
        $"{(string?)body["model"]}/{FakeChatEndpoint.LastUserText(body).Split(':')[0]}";

    [Fact]
    public async Task Collects_n_per_teacher_through_faults_resumes_and_never_duplicates()
    {
        var rows = WriteDataset();
        bool beta3Down = true;
        // Per (teacher, question), the server's answers in arrival order; "ok" replies carry the attempt number,
        // so every collected response is distinguishable. At most 5 faults per key with 6 attempts per
        // request: no request can run out of attempts, whatever the interleaving.
        Behaviour Script(string key, int attempt)
        {
            if (key == "beta-model/Question 3" && beta3Down) return new Behaviour.Status(503);
            Behaviour[] faults = key switch
            {
                "alpha-model/Question 0" => [new Behaviour.Status(429, "0"), new Behaviour.Status(500)],
                "alpha-model/Question 1" => [new Behaviour.Garbage(), new Behaviour.Slow(TimeSpan.FromSeconds(30), "late")],
                "beta-model/Question 2" => [new Behaviour.Status(502), new Behaviour.Status(502), new Behaviour.Status(429, "0")],
                _ => [],
            };
            return attempt <= faults.Length ? faults[attempt - 1] : new Behaviour.Reply($"{key} says \\boxed{{7}} (#{attempt})");
        }
        await using var server = await FakeChatEndpoint.StartAsync(KeyOf, Script);
        var teachers = new[]
        {
            HttpTeacher.Parse($"alpha={server.BaseUrl},alpha-model", Defaults),
            HttpTeacher.Parse($"beta={server.BaseUrl},beta-model", Defaults),
        };
        var cachePath = Path.Combine(_folder, "out", "teachers.jsonl");
        var collector = new HttpTeacherCollector(teachers);

        // Run 1: beta cannot answer question 3 at all; everything else arrives despite the faults.
        var first = await collector.CollectAsync(rows, perTeacher: 3, cachePath);
        Assert.Equal(36, first.Requested);
        Assert.Equal(33, first.Collected);
        Assert.Equal(3, first.Failed);
        Assert.All(first.Errors, e => Assert.Contains("beta on q3", e));
        var requestsPerKey = server.Received.GroupBy(r => r.Key).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3 + 2, requestsPerKey["alpha-model/Question 0"]);
        Assert.Equal(3 + 2, requestsPerKey["alpha-model/Question 1"]);
        Assert.Equal(3 + 3, requestsPerKey["beta-model/Question 2"]);
        Assert.Equal(3 * 6, requestsPerKey["beta-model/Question 3"]);  // three requests, six attempts each
        Assert.Equal(3, requestsPerKey["alpha-model/Question 5"]);
        Assert.Equal(server.Received.Count, first.Endpoints.Values.Sum(s => s.Attempts));
        Assert.Equal(1, first.Endpoints["alpha"].Timeouts);
        Assert.Equal(1, first.Endpoints["alpha"].InvalidReplies);
        Assert.Equal(3, first.Endpoints["beta"].Failed);

        // A run killed mid-write leaves a torn line; the next run cuts it.
        File.AppendAllText(cachePath, "{\"id\":\"q4\",\"teacher\":\"al");

        // Run 2: beta is back. Only the three missing responses are asked for.
        beta3Down = false;
        int before = server.Received.Count;
        var second = await collector.CollectAsync(rows, perTeacher: 3, cachePath);
        Assert.Equal(33, second.AlreadyCached);
        Assert.Equal(3, second.Requested);
        Assert.Equal(3, second.Collected);
        Assert.Equal(0, second.Failed);
        Assert.True(second.RepairedBytes > 0);
        Assert.Equal(3, server.Received.Count - before);
        Assert.All(server.Received.Skip(before), r => Assert.Equal("beta-model/Question 3", r.Key));

        // Run 3: nothing left to do, nothing sent.
        var third = await collector.CollectAsync(rows, perTeacher: 3, cachePath);
        Assert.Equal(0, third.Requested);
        Assert.Equal(before + 3, server.Received.Count);

        // The cache: exactly three per question and teacher, all different, samples 0..2, readable by TeacherCache.
        var cache = TeacherCache.Load(cachePath);
        Assert.Equal(36, cache.Count);
        foreach (var row in rows)
            foreach (var teacher in new[] { "alpha", "beta" })
            {
                var responses = cache.Get(row.Id, teacher);
                Assert.Equal(3, responses.Count);
                Assert.Equal(3, responses.Select(r => r.Response).Distinct().Count());
                Assert.Equal([0, 1, 2], responses.Select(r => (int)r.Extra["sample"]!).Order());
                Assert.All(responses, r => Assert.Equal($"{teacher}-model", (string?)r.Extra["model"]));
            }

        // Asking for more per teacher asks only for the difference.
        before = server.Received.Count;
        var more = await collector.CollectAsync(rows, perTeacher: 4, cachePath);
        Assert.Equal(12, more.Requested);
        Assert.Equal(12, server.Received.Count - before);
        Assert.Equal(48, TeacherCache.Load(cachePath).Count);
    }

    [Fact]
    public async Task Images_go_as_base64_data_urls_and_text_only_rows_as_plain_text()
    {
        var rows = WriteDataset();
        await using var server = await FakeChatEndpoint.StartAsync(KeyOf, (key, _) => new Behaviour.Reply("fine"));
        var collector = new HttpTeacherCollector([HttpTeacher.Parse($"alpha={server.BaseUrl},alpha-model", Defaults)]);
        await collector.CollectAsync(rows, perTeacher: 1, Path.Combine(_folder, "cache.jsonl"));

        JsonArray Content(int question) =>
            server.Received.Single(r => r.Key == $"alpha-model/Question {question}").Body["messages"]![0]!["content"]!.AsArray();
        byte[] ImageBytes(JsonArray content)
        {
            var url = (string)content.Single(p => (string?)p!["type"] == "image_url")!["image_url"]!["url"]!;
            Assert.StartsWith("data:image/png;base64,", url);
            return Convert.FromBase64String(url["data:image/png;base64,".Length..]);
        }
        // The PNG goes byte for byte; the PPM is re-encoded as a PNG of the same pixels.
        Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, "images", "q0.png")), ImageBytes(Content(0)));
        Assert.True(ImageFile.Decode(ImageBytes(Content(1))).SamePixels(ImageFile.Load(Path.Combine(_folder, "images", "q1.ppm"))));
        var text = (string)Content(0).Single(p => (string?)p!["type"] == "text")!["text"]!;
        Assert.StartsWith("Question 0: find x.", text);
        Assert.EndsWith(HttpTeacherCollector.DefaultInstruction, text);
        Assert.DoesNotContain("<image>", text);
        Assert.DoesNotContain("image_url", server.Received.Single(r => r.Key == "alpha-model/Question 4").Body.ToJsonString());
        Assert.Equal(1.0, (double?)server.Received[0].Body["temperature"]);
    }

    /// <summary>
    /// A teacher that fails more than the allowed share of its requests stops the run with one line saying the share,
    /// instead of leaving a mostly-empty cache; what arrived stays, and a rerun asks only for the rest. Before this test
    /// the run went through every request and exited 2 with half the cache missing.
    /// </summary>
    [Fact]
    public async Task Too_many_failed_requests_stop_the_run_and_a_rerun_keeps_what_was_written()
    {
        var rows = WriteDataset();
        bool betaDown = true;
        await using var server = await FakeChatEndpoint.StartAsync(KeyOf, (key, attempt) =>
            key.StartsWith("beta", StringComparison.Ordinal) && betaDown ? new Behaviour.Status(503) : new Behaviour.Reply($"{key} #{attempt}"));
        var fast = Defaults with { MaxAttempts = 2 };
        var teachers = new[] { HttpTeacher.Parse($"alpha={server.BaseUrl},alpha-model", fast), HttpTeacher.Parse($"beta={server.BaseUrl},beta-model", fast) };
        var cachePath = Path.Combine(_folder, "teachers.jsonl");
        var collector = new HttpTeacherCollector(teachers, maxFailureShare: 0.25);

        var stopped = await Assert.ThrowsAsync<TeacherCollectionStoppedException>(() => collector.CollectAsync(rows, perTeacher: 3, cachePath));
        Assert.DoesNotContain("\n", stopped.Message);
        Assert.Matches(@"(\d+) of (\d+) teacher requests failed \(\d+ %\), more than the 25 % allowed", stopped.Message);
        Assert.Contains("beta", stopped.Message);
        Assert.Contains(cachePath, stopped.Message);
        var kept = TeacherCache.Load(cachePath);
        Assert.True(kept.Count > 0, "what arrived before the stop is in the cache");
        Assert.All(rows, row => Assert.Empty(kept.Get(row.Id, "beta")));

        betaDown = false;
        var rerun = await collector.CollectAsync(rows, perTeacher: 3, cachePath);
        Assert.Equal(kept.Count, rerun.AlreadyCached);
        Assert.Equal(36 - kept.Count, rerun.Requested);
        Assert.Equal(0, rerun.Failed);
        var cache = TeacherCache.Load(cachePath);
        foreach (var row in rows)
            foreach (var teacher in new[] { "alpha", "beta" })
                Assert.Equal([0, 1, 2], cache.Get(row.Id, teacher).Select(r => (int)r.Extra["sample"]!).Order());
    }

    /// <summary>
    /// A rerun fills the sample indices that are missing, never ones the cache holds: with samples 0 and 2 cached (sample 1
    /// failed last time) it asks for sample 1. Before this test it counted the two and asked for "sample 2" again.
    /// </summary>
    [Fact]
    public async Task A_rerun_asks_for_the_missing_sample_indices_and_never_repeats_one()
    {
        var rows = WriteDataset();
        await using var server = await FakeChatEndpoint.StartAsync(KeyOf, (key, attempt) => new Behaviour.Reply($"{key} #{attempt}"));
        var cachePath = Path.Combine(_folder, "teachers.jsonl");
        new TeacherCache().Append(cachePath, rows.SelectMany(row => new[] { 0, 2 }.Select(sample =>
            new TeacherResponse(row.Id, "alpha", $"cached {sample}", new JsonObject { ["sample"] = sample }))));
        var collector = new HttpTeacherCollector([HttpTeacher.Parse($"alpha={server.BaseUrl},alpha-model", Defaults)]);

        var report = await collector.CollectAsync(rows, perTeacher: 4, cachePath);
        Assert.Equal(12, report.Requested);
        var cache = TeacherCache.Load(cachePath);
        foreach (var row in rows)
            Assert.Equal([0, 1, 2, 3], cache.Get(row.Id, "alpha").Select(r => (int)r.Extra["sample"]!).Order());
    }

    [Theory]
    [InlineData("alpha", "NAME=URL,MODEL")]
    [InlineData("=http://x/v1,m", "NAME=URL,MODEL")]
    [InlineData("alpha=http://x/v1", "NAME=URL,MODEL")]
    [InlineData("alpha=ftp://x/v1,m", "not an http(s) URL")]
    [InlineData("alpha=http://x/v1,,KEY", "NAME=URL,MODEL")]
    [InlineData("al pha=http://x/v1,m", "spaces")]
    public void Teacher_specs_are_checked(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => HttpTeacher.Parse(spec, Defaults)).Message);

    [Fact]
    public void Teacher_spec_with_a_key_variable()
    {
        var teacher = HttpTeacher.Parse("qwen=https://example.org/v1,Qwen2.5-VL-72B,QWEN_KEY", Defaults);
        Assert.Equal("qwen", teacher.Name);
        Assert.Equal("Qwen2.5-VL-72B", teacher.Endpoint.Model);
        Assert.Equal("QWEN_KEY", teacher.Endpoint.ApiKeyVariable);
        Assert.Equal(new Uri("https://example.org/v1"), teacher.Endpoint.BaseUrl);
    }

    [Fact]
    public async Task Duplicate_teacher_names_are_refused()
    {
        var rows = WriteDataset();
        var twice = new HttpTeacherCollector([HttpTeacher.Parse("a=http://127.0.0.1:1/v1,m", Defaults), HttpTeacher.Parse("a=http://127.0.0.1:1/v1,n", Defaults)]);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => twice.CollectAsync(rows, 1, Path.Combine(_folder, "x.jsonl")));
        Assert.Contains("'a' is given twice", error.Message);
    }
}

using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Data.Teachers;

namespace Ril.Tests.Data;

public class ScriptedTeacherTests
{
    static readonly List<SuiteRow> Rows = Enumerable.Range(0, 280).Select(i => SuiteWriter.GenerateRow(3, i % 2 == 0 ? "train" : "test_ood", i, 64)).ToList();

    static string? Boxed(string text)
    {
        int start = text.LastIndexOf("\\boxed{", StringComparison.Ordinal);
        return start < 0 ? null : text[(start + 7)..text.IndexOf('}', start)];
    }

    [Fact]
    public void Every_teacher_is_right_without_an_error_rate()
    {
        foreach (var name in ScriptedTeacher.Names)
        {
            var teacher = ScriptedTeacher.Named(name);
            foreach (var row in Rows)
                Assert.Equal(row.Answer, Boxed(teacher.Respond(row.Scene, row.Spec, new Random(1))));
        }
    }

    /// <summary>A crude style detector, to show the styles differ in ways any discriminator can pick up.</summary>
    static string GuessStyle(string response) =>
        response.Contains("-> needed") || response.Contains("-> skip") ? "enumerator"
        : response.StartsWith("Sorting the picture by") || response.StartsWith("Grouped by") ? "grouper"
        : response.Contains("Wait, let me check again") ? "verifier"
        : !response.Contains('\n') ? "terse"
        : "unknown";

    [Fact]
    public void Styles_are_recognisably_different()
    {
        foreach (var name in ScriptedTeacher.Names)
        {
            var teacher = ScriptedTeacher.Named(name);
            foreach (var row in Rows.Take(60))
                Assert.Equal(name, GuessStyle(teacher.Respond(row.Scene, row.Spec, new Random(row.Id.Length))));
        }
        var lengths = ScriptedTeacher.Names.ToDictionary(n => n, n => Rows.Average(r => ScriptedTeacher.Named(n).Respond(r.Scene, r.Spec, new Random(2)).Length));
        Assert.True(lengths["terse"] * 3 < lengths.Where(kv => kv.Key != "terse").Min(kv => kv.Value));
        // The gold solution is none of them.
        Assert.All(Rows.Take(60), r => Assert.Equal("unknown", GuessStyle(r.Solution)));
    }

    [Fact]
    public void Error_rate_gives_that_share_of_wrong_answers_with_consistent_reasoning()
    {
        var teacher = ScriptedTeacher.Named("enumerator", errorRate: 0.3);
        int wrong = 0, total = 0;
        foreach (var row in Rows)
            for (int i = 0; i < 4; i++)
            {
                var response = teacher.Respond(row.Scene, row.Spec, new Random(StableSeed.Mix(StableSeed.Of(row.Id), i)));
                total++;
                if (Boxed(response) != row.Answer)
                {
                    wrong++;
                    Assert.DoesNotContain($"\\boxed{{{row.Answer}}}", response);
                }
            }
        double share = (double)wrong / total;
        Assert.InRange(share, 0.22, 0.34);
    }

    [Fact]
    public void Responses_are_deterministic_given_the_random_seed()
    {
        var teacher = ScriptedTeacher.Named("verifier", errorRate: 0.5);
        foreach (var row in Rows.Take(30))
            Assert.Equal(teacher.Respond(row.Scene, row.Spec, new Random(9)), teacher.Respond(row.Scene, row.Spec, new Random(9)));
    }

    [Fact]
    public void Rows_from_a_file_are_answered_and_foreign_rows_refused()
    {
        var row = Rows[5];
        var dataset = new DatasetRow(row.Id, row.Question, row.Answer, row.Solution, null,
            new JsonObject { ["scene"] = row.Scene.ToJson(), ["params"] = row.Spec.ToJson() }, "suite.jsonl", 6);
        Assert.Equal(row.Answer, Boxed(ScriptedTeacher.Named("terse").Respond(dataset, new Random(1))));
        var foreign = dataset with { Extra = [] };
        var e = Assert.Throws<DataFormatException>(() => ScriptedTeacher.Named("terse").Respond(foreign, new Random(1)));
        Assert.StartsWith("suite.jsonl:6: field 'scene'", e.Message);
        Assert.Throws<ArgumentException>(() => ScriptedTeacher.Named("oracle"));
    }
}

public class TeacherCacheTests
{
    static TeacherCache Cache(params (string Teacher, int Responses)[] teachers)
    {
        var cache = new TeacherCache();
        foreach (var (teacher, n) in teachers)
            for (int i = 0; i < n; i++) cache.Add(new TeacherResponse("q1", teacher, $"{teacher} #{i}", []));
        return cache;
    }

    [Fact]
    public void Round_robin_fills_slots_evenly_with_the_remainder_at_random()
    {
        var cache = Cache(("a", 8), ("b", 8), ("c", 8));
        var remainderGoesTo = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0, ["c"] = 0 };
        var random = new Random(1);
        for (int trial = 0; trial < 300; trial++)
        {
            var group = cache.Sample("q1", 4, TeacherSampling.RoundRobin, random);
            Assert.Equal(4, group.Count);
            var counts = group.GroupBy(r => r.Teacher).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(3, counts.Count);
            Assert.Equal([1, 1, 2], counts.Values.Order());
            remainderGoesTo[counts.Single(kv => kv.Value == 2).Key]++;
            // Slot order is round after round: the first three slots are three different teachers.
            Assert.Equal(3, group.Take(3).Select(r => r.Teacher).Distinct().Count());
            Assert.Equal(4, group.Select(r => r.Response).Distinct().Count()); // no repeats while responses remain
        }
        Assert.All(remainderGoesTo.Values, n => Assert.InRange(n, 60, 140));

        var even = Cache(("a", 4), ("b", 4)).Sample("q1", 4, TeacherSampling.RoundRobin, random);
        Assert.Equal(2, even.Count(r => r.Teacher == "a"));
    }

    [Fact]
    public void Round_robin_repeats_a_teachers_responses_only_when_it_runs_out()
    {
        var group = Cache(("a", 1), ("b", 3)).Sample("q1", 6, TeacherSampling.RoundRobin, new Random(2));
        Assert.Equal(3, group.Count(r => r.Teacher == "a"));
        Assert.Equal(3, group.Where(r => r.Teacher == "b").Select(r => r.Response).Distinct().Count());
    }

    [Fact]
    public void Fixed_quota_takes_the_given_counts()
    {
        var cache = Cache(("a", 5), ("b", 5));
        var group = cache.Sample("q1", 4, TeacherSampling.FixedQuota, new Random(3), new Dictionary<string, int> { ["a"] = 3, ["b"] = 1 });
        Assert.Equal(3, group.Count(r => r.Teacher == "a"));
        Assert.Equal(1, group.Count(r => r.Teacher == "b"));
        Assert.Throws<ArgumentException>(() => cache.Sample("q1", 4, TeacherSampling.FixedQuota, new Random(3), new Dictionary<string, int> { ["a"] = 1 }));
        Assert.Throws<ArgumentException>(() => cache.Sample("q1", 4, TeacherSampling.FixedQuota, new Random(3)));
        var e = Assert.Throws<KeyNotFoundException>(() => cache.Sample("q1", 2, TeacherSampling.FixedQuota, new Random(3), new Dictionary<string, int> { ["z"] = 2 }));
        Assert.Contains("'z'", e.Message);
    }

    [Fact]
    public void Uniform_draws_in_proportion_to_cached_responses()
    {
        var cache = Cache(("a", 6), ("b", 2));
        var random = new Random(4);
        int fromA = 0, total = 0;
        for (int trial = 0; trial < 500; trial++)
        {
            var group = cache.Sample("q1", 2, TeacherSampling.Uniform, random);
            fromA += group.Count(r => r.Teacher == "a");
            total += group.Count;
        }
        Assert.InRange((double)fromA / total, 0.70, 0.80);
    }

    [Fact]
    public void Unknown_questions_are_an_error()
    {
        Assert.Throws<KeyNotFoundException>(() => Cache(("a", 1)).Sample("nope", 2, TeacherSampling.RoundRobin, new Random(1)));
        Assert.Empty(Cache(("a", 1)).Get("q1", "b"));
    }

    [Fact]
    public void Append_load_and_lookup_round_trip()
    {
        var dir = Directory.CreateTempSubdirectory("ril-cache-").FullName;
        try
        {
            var path = Path.Combine(dir, "cache.jsonl");
            var written = new TeacherCache();
            written.Append(path, [new TeacherResponse("q1", "a", "first \\boxed{1}", new JsonObject { ["correct"] = true })]);
            written.Append(path, [new TeacherResponse("q1", "b", "second", []), new TeacherResponse("q2", "a", "ünïcode", [])]);
            var loaded = TeacherCache.Load(path);
            Assert.Equal(3, loaded.Count);
            Assert.Equal(["a", "b"], loaded.Teachers);
            Assert.Equal("first \\boxed{1}", Assert.Single(loaded.Get("q1", "a")).Response);
            Assert.True(loaded.Get("q1", "a")[0].Extra["correct"]!.GetValue<bool>());
            Assert.Equal("ünïcode", loaded.Get("q2", "a")[0].Response);
            Assert.Equal(2, loaded.Get("q1").Count);
            Assert.Contains("\"response\":\"ünïcode\"", File.ReadAllText(path));

            File.AppendAllText(path, "{\"id\": \"q3\", \"teacher\": 5, \"response\": \"x\"}\n");
            var e = Assert.Throws<DataFormatException>(() => TeacherCache.Load(path));
            Assert.StartsWith("cache.jsonl:4: field 'teacher': expected a string", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}

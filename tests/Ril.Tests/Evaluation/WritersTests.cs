using System.Text.Json.Nodes;
using Ril.Evaluation;
using Spectre.Console;

namespace Ril.Tests.Evaluation;

/// <summary>Evaluation settings, metrics.jsonl, the report on hand-made runs (groups, gaps), and the console view.</summary>
public class WritersTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), $"ril-writers-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public void Settings_default_to_maye_three_and_parse_others()
    {
        Assert.Equal(["t0.01_p0.001_pass@1", "t0.6_pass@1", "t1.0_pass@8"], EvalSetting.Maye.Select(s => s.Name));
        Assert.Equal((0.01f, 0.001f, 1), (EvalSetting.Low.Temperature, EvalSetting.Low.TopP, EvalSetting.Low.K));
        Assert.Equal((1.0f, 1f, 8), (EvalSetting.HighPass8.Temperature, EvalSetting.HighPass8.TopP, EvalSetting.HighPass8.K));
        var list = EvalSetting.ParseList("maye, 0.3:0.95:4, 0.6:1:1");
        Assert.Equal(["t0.01_p0.001_pass@1", "t0.6_pass@1", "t1.0_pass@8", "t0.3_p0.95_pass@4"], list.Select(s => s.Name));
        Assert.Contains("T:top_p:k", Assert.Throws<ArgumentException>(() => EvalSetting.ParseList("0.6:1")).Message);
        Assert.Throws<ArgumentException>(() => EvalSetting.ParseList("0.6:1.5:1"));
        Assert.Throws<ArgumentException>(() => EvalSetting.ParseList(""));
    }

    [Fact]
    public void Metrics_lines_are_whole_objects_with_missing_values_as_null()
    {
        var path = Path.Combine(_dir, "metrics.jsonl");
        using (var w = new MetricsWriter(path))
        {
            w.Write(1, [new("reward/total", 0.5), new("reflection/reflection_ratio_in_correct_answers", null), new("train/grad_norm", double.NaN)]);
            w.Write(2, [new("reward/total", 0.75)]);
        }
        File.AppendAllText(path, "{\"step\":3,\"rew");                       // a crash mid-line
        var rows = MetricsWriter.Read(path);
        Assert.Equal(2, rows.Count);
        Assert.Equal(0.5, (double)rows[0]["reward/total"]!);
        Assert.True(rows[0].ContainsKey("reflection/reflection_ratio_in_correct_answers"));
        Assert.Null(rows[0]["reflection/reflection_ratio_in_correct_answers"]);
        Assert.Null(rows[0]["train/grad_norm"]);                               // NaN is not JSON: missing
        using (var again = new MetricsWriter(path)) again.Write(3, [new("reward/total", 1.0)]);   // reopening cuts the torn line
        Assert.Equal([1L, 2L, 3L], MetricsWriter.Read(path).Select(r => (long)r["step"]!));
    }

    void FakeRun(string name, long seed, string objective, double[] rewards, double?[] ratio, double[] accuracy)
    {
        var dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.Combine(dir, "eval"));
        File.WriteAllText(Path.Combine(dir, "config.json"), new JsonObject { ["name"] = objective, ["seed"] = seed, ["objective"] = objective }.ToJsonString());
        using (var w = new MetricsWriter(Path.Combine(dir, "metrics.jsonl")))
            for (int i = 0; i < rewards.Length; i++)
                w.Write(i + 1, [new("reward/total", rewards[i]), new("reflection/reflection_ratio_in_correct_answers", ratio[i]), new("reflection_words/wait", i)]);
        File.WriteAllLines(Path.Combine(dir, "eval", "summary.jsonl"), accuracy.Select((a, i) =>
            new JsonObject { ["split"] = "val", ["setting"] = "t0.6_pass@1", ["step"] = i * 2, ["accuracy"] = a }.ToJsonString()));
    }

    [Fact]
    public void The_report_overlays_groups_bands_seeds_and_breaks_lines_at_missing_values()
    {
        FakeRun("a1", 1, "grpo", [0.1, 0.2, 0.3], [0.5, null, 0.7], [0.2, 0.4]);
        FakeRun("a2", 2, "grpo", [0.3, 0.4, 0.5], [0.5, null, 0.9], [0.4, 0.6]);
        FakeRun("b1", 1, "dr_grpo", [0.0, 0.0, 0.1], [null, null, null], [0.1, 0.1]);
        var runs = new[] { "a1", "a2", "b1" }.Select(n => RunData.Load(Path.Combine(_dir, n))).ToList();
        var groups = RunReport.Group(runs);
        Assert.Equal(2, groups.Count);
        Assert.Equal("grpo — mean of 2 seeds (1, 2)", groups[0].Label);
        Assert.Equal("dr_grpo — seed 1", groups[1].Label);
        var mean = groups[0].Aggregate(r => r.Series("reward/total"));
        Assert.Equal([0.2, 0.3, 0.4], mean.Select(p => Math.Round(p.Mean!.Value, 9)));
        Assert.Equal([0.1, 0.2, 0.3], mean.Select(p => p.Min!.Value));
        Assert.Null(groups[0].Aggregate(r => r.Series("reflection/reflection_ratio_in_correct_answers"))[1].Mean);

        var html = RunReport.Render(runs);
        var ratioChart = html[html.IndexOf("data-metric=\"reflection/reflection_ratio_in_correct_answers\"", StringComparison.Ordinal)..];
        ratioChart = ratioChart[..ratioChart.IndexOf("</svg>", StringComparison.Ordinal)];
        Assert.Equal(2, ratioChart.Split("class=\"series\"").Length - 1);    // grpo: steps 1 and 3, broken at the missing step 2; dr_grpo: nothing
        Assert.Contains("<td>mean 0.400 ±0.141<br>max 0.500 ±0.141</td>", html);   // per seed mean 0.3, 0.5 and max 0.4, 0.6
        Assert.Contains("<td>mean 0.100<br>max 0.100</td>", html);
        Assert.Throws<DirectoryNotFoundException>(() => RunData.Load(Path.Combine(_dir, "nope")));
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        Assert.Contains("is this a run directory?", Assert.Throws<InvalidDataException>(() => RunData.Load(Path.Combine(_dir, "empty"))).Message);
    }

    [Fact]
    public void Ticks_are_round_and_cover_the_range()
    {
        Assert.Equal([0, 0.2, 0.4, 0.6, 0.8, 1], RunReport.Ticks(0, 1, 5).Select(t => Math.Round(t, 12)));
        Assert.Equal([-0.5, 0, 0.5], RunReport.Ticks(-0.5, 0.5, 3));
        var t = RunReport.Ticks(37, 1234, 5);
        Assert.True(t[0] <= 37 && t[^1] >= 1234 && t.Count <= 8, string.Join(",", t));
        Assert.All(t, v => Assert.Equal(0, v % 100));
    }

    [Fact]
    public void The_console_view_prints_one_line_per_step_and_evaluation_when_not_a_terminal()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No, Ansi = AnsiSupport.No });
        var view = new ConsoleView("demo", console);
        view.Run(2, v =>
        {
            v.Step(1, 2, [new("reward/total", 0.375), new("accuracy/train", 0.25), new("response/length_mean", 41.25), new("speed/rollout_tokens_per_s", 12345.0)]);
            v.Evaluated(new EvalSummary("val", "t0.6_pass@1", 0.6f, 1, 1, 2, 0, "answer", 8, 3, 0.375, 0.375, 40, 1, 0, ReflectionMetrics.Compute([]), 1.5));
        });
        var text = writer.ToString();
        Assert.Contains("step 1/2  reward 0.375  acc 0.25  len 41.2  rollout 12k tok/s  update – tok/s", text);
        Assert.Contains("eval step 2  val        t0.6_pass@1            accuracy 0.375 (3/8)", text);
    }

    [Fact]
    public void A_step_line_longer_than_80_columns_stays_one_line_when_not_a_terminal()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No, Ansi = AnsiSupport.No });
        var view = new ConsoleView("demo", console);
        view.Run(100, v => v.Step(100, 100, [new("reward/total", 0.375), new("accuracy/train", 0.25), new("response/length_mean", 41.25),
            new("speed/rollout_tokens_per_s", 1234.0), new("speed/update_tokens_per_s", 11000.0)]));
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        const string expected = "step 100/100  reward 0.375  acc 0.25  len 41.2  rollout 1.2k tok/s  update 11k tok/s";
        Assert.True(expected.Length > 80);
        Assert.Equal(expected, Assert.Single(lines).TrimEnd());
    }

    [Fact]
    public void The_console_view_draws_a_progress_bar_on_a_terminal()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.Yes, Ansi = AnsiSupport.Yes });
        var view = new ConsoleView("demo run", console);
        view.Run(4, v => { for (int s = 1; s <= 4; s++) { v.Step(s, 4, [new("reward/total", s / 4.0)]); Thread.Sleep(120); } });
        var text = writer.ToString();
        Assert.Contains("demo run", text);
        Assert.Contains("step 4/4", text);
        Assert.Contains("reward 1.000", text);
        Assert.Contains("100%", text);
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Ril.Evaluation;

/// <summary>What <see cref="RunReport"/> reads of a run directory (<see cref="RunLog"/>'s layout).</summary>
public sealed record RunData(string Directory, string Name, long? Seed, JsonObject Config, List<JsonObject> Metrics, List<JsonObject> Evaluations)
{
    public static RunData Load(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"run directory not found: {directory}");
        var configPath = Path.Combine(directory, "config.json");
        JsonObject config = [];
        if (File.Exists(configPath))
            try { config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new InvalidDataException($"{configPath}: not a JSON object"); }
            catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: not JSON ({e.Message})", e); }
        var metrics = MetricsWriter.Read(Path.Combine(directory, "metrics.jsonl"));
        var evaluations = MetricsWriter.Read(Path.Combine(directory, "eval", "summary.jsonl"));
        if (metrics.Count == 0 && evaluations.Count == 0)
            throw new InvalidDataException($"{directory}: neither metrics.jsonl nor eval/summary.jsonl has any rows (is this a run directory?)");
        var name = config["name"]?.GetValue<string>() ?? config["run"]?["group"]?.GetValue<string>()
                   ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        long? seed = (config["seed"] ?? config["trainer"]?["seed"]) is JsonValue s && s.TryGetValue<long>(out var v) ? v : null;   // a recipe keeps it in trainer
        return new RunData(directory, name, seed, config, metrics, evaluations);
    }

    /// <summary>A metric's values by step (null where it was missing).</summary>
    public SortedDictionary<long, double?> Series(string metric)
    {
        var series = new SortedDictionary<long, double?>();
        foreach (var row in Metrics)
            if (row["step"] is JsonValue step && row.ContainsKey(metric)) series[step.GetValue<long>()] = Number(row[metric]);
        return series;
    }

    /// <summary>
    /// A metric's mean over the first and over the last tenth of the steps that have it (at least one step each): how
    /// training moved it, less noisy than its first and last values. Null where the run never logged it.
    /// </summary>
    public (double First, double Last)? FirstAndLastTenth(string metric)
    {
        var values = Series(metric).Values.Where(v => v is not null).Select(v => v!.Value).ToList();
        if (values.Count == 0) return null;
        int n = Math.Max(1, values.Count / 10);
        return (values.Take(n).Average(), values.TakeLast(n).Average());
    }

    /// <summary>An evaluation's accuracy by step.</summary>
    public SortedDictionary<long, double?> Accuracy(string split, string setting)
    {
        var series = new SortedDictionary<long, double?>();
        foreach (var e in Evaluations)
            if (Text(e["split"]) == split && Text(e["setting"]) == setting && e["step"] is JsonValue step)
                series[step.GetValue<long>()] = Number(e["accuracy"]);
        return series;
    }

    /// <summary>Runs that differ only by their seed share this key; so do runs of a recipe with the same run.group.</summary>
    public string GroupKey
    {
        get
        {
            if (Config["run"]?["group"] is JsonValue group) return "group:" + group.GetValue<string>();
            var copy = (JsonObject)Config.DeepClone();
            copy.Remove("seed");
            return Canonical(copy);
        }
    }

    static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"\"{kv.Key}\":{Canonical(kv.Value)}")) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };

    internal static double? Number(JsonNode? node) => node is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : null;
    internal static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}

/// <summary>Runs equal but for their seed, drawn as one mean curve with a min–max band.</summary>
public sealed record RunGroup(string Label, IReadOnlyList<RunData> Runs, string Colour)
{
    /// <summary>Per step: the mean over the runs that have a value there, and the min and max; null where none has.</summary>
    public List<(long Step, double? Mean, double? Min, double? Max)> Aggregate(Func<RunData, SortedDictionary<long, double?>> series)
    {
        var each = Runs.Select(series).ToList();
        var steps = each.SelectMany(s => s.Keys).Distinct().Order();
        return steps.Select(step =>
        {
            var values = each.Select(s => s.TryGetValue(step, out var v) ? v : null).Where(v => v is not null).Select(v => v!.Value).ToList();
            return values.Count == 0 ? (step, (double?)null, (double?)null, (double?)null) : (step, values.Average(), values.Min(), values.Max());
        }).ToList();
    }
}

/// <summary>
/// `ril report`: one self-contained HTML page (inline CSS and SVG, no script, nothing fetched) over one or more run
/// directories: accuracy curves per split and decoding setting, rewards, training accuracy, response length, the
/// reflection ratios and word counts, KL, entropy, losses and throughput, every run overlaid; runs that differ only by
/// seed are one group drawn as the mean with a min–max band. MAYE's table gives each group's mean and max accuracy
/// over its evaluations (per seed, then averaged over seeds), and sample responses close the page.
/// </summary>
public static class RunReport
{
    static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Write(IReadOnlyList<string> runDirectories, string outPath, string? title = null)
    {
        var html = Render(runDirectories.Select(RunData.Load).ToList(), title);
        if (Path.GetDirectoryName(Path.GetFullPath(outPath)) is { } folder) Directory.CreateDirectory(folder);
        File.WriteAllText(outPath + ".tmp", html, new UTF8Encoding(false));
        File.Move(outPath + ".tmp", outPath, overwrite: true);
    }

    /// <summary>Runs grouped by their config without the seed, in the order first seen; labels say the seeds.</summary>
    public static List<RunGroup> Group(IReadOnlyList<RunData> runs)
    {
        var groups = runs.GroupBy(r => r.GroupKey).ToList();
        var names = groups.Select(g => g.First().Name).ToList();
        return groups.Select((g, i) =>
        {
            var list = g.ToList();
            var label = names.Count(n => n == names[i]) > 1 ? $"{names[i]} ({Path.GetFileName(Path.TrimEndingDirectorySeparator(list[0].Directory))})" : names[i];
            var seeds = list.Select(r => r.Seed?.ToString(Inv) ?? "?").ToList();
            label += list.Count > 1 ? $" — mean of {list.Count} seeds ({string.Join(", ", seeds)})" : $" — seed {seeds[0]}";
            return new RunGroup(label, list, Palette[i % Palette.Length]);
        }).ToList();
    }

    public static string Render(IReadOnlyList<RunData> runs, string? title = null)
    {
        if (runs.Count == 0) throw new ArgumentException("report: no runs given");
        var groups = Group(runs);
        title ??= $"Ril report: {string.Join(", ", groups.Select(g => g.Runs[0].Name).Distinct())}";
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n<style>")
         .Append(Css).Append("</style></head><body>\n<h1>").Append(E(title)).Append("</h1>\n");
        h.Append("<p class=\"meta\">").Append(runs.Count).Append(" run(s) in ").Append(groups.Count).Append(" group(s); a band is the min–max over a group's seeds. Generated ")
         .Append(E(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", Inv))).Append(".</p>\n");
        Legend(h, groups);
        RunsTable(h, groups);

        var evalKeys = EvaluationKeys(runs);

        Section(h, "Accuracy (evaluation)", "Share of questions solved (pass@k: any of k samples correct), at step 0 (before any update) and on the run's schedule.",
            evalKeys.Select(k => Chart($"{k.Split} · {k.Setting}", groups, r => r.Accuracy(k.Split, k.Setting), fixedRange: (0, 1), markers: true)));
        MayeTable(h, groups, evalKeys);

        var metricNames = runs.SelectMany(r => r.Metrics).SelectMany(m => m.Select(kv => kv.Key)).Distinct().ToList();
        IEnumerable<string> Named(string prefix) => metricNames.Where(n => n.StartsWith(prefix, StringComparison.Ordinal));
        Section(h, "Rewards", "Mean reward of the step's rollouts, total and by component.",
            new[] { "reward/total" }.Concat(Named("reward/").Where(n => n != "reward/total")).Select(n => MetricChart(groups, n)));
        Section(h, "Training accuracy", "Share of the step's rollouts the accuracy reward judged correct; and cumulative over the epoch's rollouts.",
            ["accuracy/train", "accuracy/train_epoch"], groups, metricNames, (0, 1));
        Section(h, "Response length", "Tokens per response (mean, and the median with its quartiles), share cut off at the length limit, share ending with an end token.",
            ["response/length_mean", "response/length_p50", "response/length_p25", "response/length_p75", "response/length_clip_ratio", "response/end_token_share"], groups, metricNames);
        Section(h, "Reflection ratios", "MAYE's five ratios over the step's rollouts; a gap is a missing value (empty denominator).",
            ReflectionNames, groups, metricNames, (0, 1));
        WordCounts(h, groups);
        Section(h, "KL and entropy", "k3 KL to the reference (missing without a reference model), MAYE's approximate policy KL ½(logp − logp_old)², full-vocabulary entropy of the policy on its own responses.",
            ["train/kl_ref", "train/approx_kl", "train/entropy"], groups, metricNames);
        Section(h, "Optimisation", "Losses, clip fraction, mean ratio, gradient norm (before clipping), learning rate, share of groups with zero reward variance.",
            ["loss/total", "loss/policy", "train/clip_fraction", "train/ratio", "train/grad_norm", "train/lr", "train/zero_variance_share"], groups, metricNames);
        Section(h, "Throughput", "Generated tokens per second during rollout, trained tokens per second during the update, and seconds per part of the step.",
            ["speed/rollout_tokens_per_s", "speed/update_tokens_per_s", "speed/rollout_s", "speed/logprob_s", "speed/reward_s", "speed/update_s"], groups, metricNames);
        Section(h, "Memory", "MiB: weights as stored, gradients, optimizer state, the step's activation peak (tensor buffers beyond those it began with), the KV caches of one step's rollouts, and the process's peak resident memory.",
            ["memory/weights_mb", "memory/gradients_mb", "memory/optimizer_state_mb", "memory/activations_mb", "memory/kv_caches_mb", "memory/peak_rss_mb"], groups, metricNames);
        Section(h, "RIL", "The discriminator's accuracy and mean score on student and teacher responses, the similarity and answer rewards of each side, and how likely the teachers' text is under the student.",
            ["disc/accuracy_student", "disc/accuracy_teacher", "disc/score_student", "disc/score_teacher", "ril/similarity_student", "ril/similarity_teacher",
             "ril/answer_student", "ril/answer_teacher", "ril/teacher_token_logprob", "ril/student_matches_teacher", "disc/loss"], groups, metricNames);
        Samples(h, groups);
        h.Append("</body></html>\n");
        return h.ToString();
    }

    static readonly string[] ReflectionNames = ReflectionMetrics.Compute([]).Ratios.Select(r => "reflection/" + r.Name).ToArray();

    static int SplitOrder(string split) => split switch { "val" or "validation" => 0, "test" => 1, _ => 2 };

    static void Section(StringBuilder h, string title, string note, IReadOnlyList<string> metrics, List<RunGroup> groups, List<string> present, (double, double)? range = null) =>
        Section(h, title, note, metrics.Where(present.Contains).Select(m => MetricChart(groups, m, range)));

    static string MetricChart(List<RunGroup> groups, string metric, (double, double)? range = null) =>
        Chart(metric, groups, r => r.Series(metric), range, label: metric.StartsWith("reflection/", StringComparison.Ordinal) ? metric["reflection/".Length..] : metric);

    static void Section(StringBuilder h, string title, string note, IEnumerable<string> charts)
    {
        var list = charts.ToList();
        h.Append("<section><h2>").Append(E(title)).Append("</h2><p class=\"note\">").Append(E(note)).Append("</p>\n");
        if (list.Count == 0) h.Append("<p class=\"empty\">No data in these runs.</p>\n");
        else h.Append("<div class=\"charts\">\n").AppendJoin("\n", list).Append("\n</div>\n");
        h.Append("</section>\n");
    }

    static void Legend(StringBuilder h, List<RunGroup> groups)
    {
        h.Append("<ul class=\"legend\">");
        foreach (var g in groups)
            h.Append("<li><span class=\"swatch\" style=\"background:").Append(g.Colour).Append("\"></span>").Append(E(g.Label)).Append("</li>");
        h.Append("</ul>\n");
    }

    static void RunsTable(StringBuilder h, List<RunGroup> groups)
    {
        h.Append("<details><summary>Runs</summary><table class=\"runs\"><tr><th>group</th><th>directory</th><th>seed</th><th>steps</th><th>evaluations</th><th>config</th></tr>\n");
        foreach (var g in groups)
            foreach (var r in g.Runs)
                h.Append("<tr><td><span class=\"swatch\" style=\"background:").Append(g.Colour).Append("\"></span></td><td>").Append(E(r.Directory))
                 .Append("</td><td>").Append(r.Seed?.ToString(Inv) ?? "–").Append("</td><td>").Append(r.Metrics.Count).Append("</td><td>").Append(r.Evaluations.Count)
                 .Append("</td><td><code>").Append(E(r.Config.ToJsonString())).Append("</code></td></tr>\n");
        h.Append("</table></details>\n");
    }

    /// <summary>One cell of MAYE's table: over a group's runs, the mean (and spread) of each run's mean, max and last accuracy.</summary>
    public sealed record AccuracyCell(string Mean, string Max, string Last);

    /// <summary>
    /// MAYE's statistics for one group, split and setting: each run's mean and max accuracy over its evaluations (and its
    /// last), averaged over the group's seeds, ± the spread over seeds where there are several; null when no run has any.
    /// </summary>
    public static AccuracyCell? Cell(RunGroup g, string split, string setting)
    {
        var perRun = g.Runs.Select(r => r.Accuracy(split, setting).Values.Where(v => v is not null).Select(v => v!.Value).ToList()).Where(l => l.Count > 0).ToList();
        if (perRun.Count == 0) return null;
        static string Stat(IEnumerable<double> values)
        {
            var v = values.ToList();
            var mean = v.Average();
            var spread = v.Count > 1 ? $" ±{Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1)).ToString("F3", Inv)}" : "";
            return mean.ToString("F3", Inv) + spread;
        }
        return new AccuracyCell(Stat(perRun.Select(l => l.Average())), Stat(perRun.Select(l => l.Max())), Stat(perRun.Select(l => l[^1])));
    }

    /// <summary>The (split, setting) pairs the runs were evaluated on, in a stable order.</summary>
    public static List<(string Split, string Setting)> EvaluationKeys(IReadOnlyList<RunData> runs)
    {
        var settingsOrder = runs.SelectMany(r => r.Evaluations).Select(e => RunData.Text(e["setting"]) ?? "?").Distinct().ToList();
        return runs.SelectMany(r => r.Evaluations).Select(e => (Split: RunData.Text(e["split"]) ?? "?", Setting: RunData.Text(e["setting"]) ?? "?")).Distinct()
            .OrderBy(k => SplitOrder(k.Split)).ThenBy(k => k.Split, StringComparer.Ordinal).ThenBy(k => settingsOrder.IndexOf(k.Setting)).ToList();
    }

    /// <summary>MAYE's table as Markdown (for docs): a row per group, mean / max / last accuracy per split and setting.</summary>
    public static string MarkdownTable(IReadOnlyList<string> runDirectories)
    {
        var runs = runDirectories.Select(RunData.Load).ToList();
        var groups = Group(runs);
        var keys = EvaluationKeys(runs);
        var md = new StringBuilder("| group |");
        foreach (var (split, setting) in keys) md.Append($" {split} {setting}: mean | max | last |");
        md.Append("\n|---|").Append(string.Concat(Enumerable.Repeat("---|---|---|", keys.Count))).Append('\n');
        foreach (var g in groups)
        {
            md.Append("| ").Append(g.Label).Append(" |");
            foreach (var (split, setting) in keys)
                md.Append(Cell(g, split, setting) is { } c ? $" {c.Mean} | {c.Max} | {c.Last} |" : " – | – | – |");
            md.Append('\n');
        }
        return md.ToString();
    }

    /// <summary>Training dynamics as Markdown: per run, metrics' means over the first → last tenth of its steps (<see cref="RunData.FirstAndLastTenth"/>).</summary>
    public static string DynamicsTable(IReadOnlyList<string> runDirectories)
    {
        (string Metric, string Label, string Format)[] columns =
        [
            ("accuracy/train", "sampled accuracy", "F3"), ("train/entropy", "entropy (nats/token)", "F2"),
            ("response/length_mean", "response length", "F1"), ("ril/teacher_token_logprob", "teachers' tokens, log-prob", "F2"),
        ];
        var md = new StringBuilder("| run (first → last tenth of its steps) |");
        foreach (var c in columns) md.Append(' ').Append(c.Label).Append(" |");
        md.Append("\n|---|").Append(string.Concat(Enumerable.Repeat("---|", columns.Length))).Append('\n');
        foreach (var run in runDirectories.Select(RunData.Load))
        {
            md.Append("| ").Append(run.Name).Append(" |");
            foreach (var c in columns)
                md.Append(run.FirstAndLastTenth(c.Metric) is (var first, var last)
                    ? $" {first.ToString(c.Format, CultureInfo.InvariantCulture)} → {last.ToString(c.Format, CultureInfo.InvariantCulture)} |" : " – |");
            md.Append('\n');
        }
        return md.ToString();
    }

    /// <summary>MAYE's table: per group, split and setting, the mean and the max accuracy over the run's evaluations, averaged over seeds.</summary>
    static void MayeTable(StringBuilder h, List<RunGroup> groups, List<(string Split, string Setting)> keys)
    {
        if (keys.Count == 0) return;
        h.Append("<section><h2>Mean and max accuracy over evaluations</h2><p class=\"note\">As MAYE reports them: for each run the mean and the max of its ")
         .Append("evaluations' accuracies, then averaged over the group's seeds (± the spread over seeds where there are several).</p>\n<table class=\"maye\"><tr><th>group</th>");
        foreach (var (split, setting) in keys) h.Append("<th>").Append(E(split)).Append("<br>").Append(E(setting)).Append("</th>");
        h.Append("</tr>\n");
        foreach (var g in groups)
        {
            h.Append("<tr><td><span class=\"swatch\" style=\"background:").Append(g.Colour).Append("\"></span>").Append(E(g.Label)).Append("</td>");
            foreach (var (split, setting) in keys)
                h.Append(Cell(g, split, setting) is { } c ? $"<td>mean {c.Mean}<br>max {c.Max}</td>" : "<td>–</td>");
            h.Append("</tr>\n");
        }
        h.Append("</table></section>\n");
    }

    /// <summary>Reflective words: each word's count summed over all steps, per group (mean over seeds), as bars.</summary>
    static void WordCounts(StringBuilder h, List<RunGroup> groups)
    {
        var words = ReflectionMetrics.Words;
        var totals = groups.Select(g => words.Select(w => g.Runs.Average(r => r.Series($"reflection_words/{w}").Values.Sum(v => v ?? 0))).ToArray()).ToList();
        bool any = groups.Any(g => g.Runs.Any(r => r.Metrics.Any(m => m.ContainsKey($"reflection_words/{words[0]}"))));
        h.Append("<section><h2>Reflective words</h2><p class=\"note\">Occurrences of each of MAYE's 15 words in the rollouts, summed over all steps (mean over seeds).</p>\n");
        if (!any) { h.Append("<p class=\"empty\">No data in these runs.</p></section>\n"); return; }
        int barH = 7, rowH = Math.Max(16, groups.Count * barH + 6), left = 110, width = 640, plotW = width - left - 60, height = words.Count * rowH + 30;
        double max = Math.Max(1, totals.SelectMany(t => t).Max());
        var s = new StringBuilder();
        s.Append($"<svg class=\"chart bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"reflective word counts\">");
        s.Append($"<text class=\"title\" x=\"{left}\" y=\"14\">reflection_words (total over steps)</text>");
        for (int w = 0; w < words.Count; w++)
        {
            int y = 22 + w * rowH;
            s.Append($"<text class=\"tick\" x=\"{left - 6}\" y=\"{y + rowH / 2 + 3}\" text-anchor=\"end\">{E(words[w])}</text>");
            for (int g = 0; g < groups.Count; g++)
            {
                double v = totals[g][w];
                double bw = plotW * v / max;
                s.Append($"<rect class=\"bar\" x=\"{left}\" y=\"{y + 3 + g * barH}\" width=\"{F(Math.Max(bw, v > 0 ? 1 : 0))}\" height=\"{barH - 1}\" fill=\"{groups[g].Colour}\"><title>{E(words[w])}: {F(v)}</title></rect>");
                s.Append($"<text class=\"value\" x=\"{F(left + bw + 4)}\" y=\"{y + 3 + g * barH + barH - 1}\">{F(v)}</text>");
            }
        }
        s.Append($"<line class=\"axis\" x1=\"{left}\" y1=\"20\" x2=\"{left}\" y2=\"{height - 6}\"/></svg>");
        h.Append("<div class=\"charts\">").Append(s).Append("</div></section>\n");
    }

    static void Samples(StringBuilder h, List<RunGroup> groups)
    {
        h.Append("<section><h2>Sample responses</h2><p class=\"note\">From each run's last evaluation (first split, first setting): question, ground truth, response, extracted answer and verdict.</p>\n");
        bool any = false;
        foreach (var g in groups)
            foreach (var r in g.Runs)
            {
                var last = r.Evaluations.LastOrDefault();
                if (last is null) continue;
                var first = r.Evaluations.Where(e => RunData.Number(e["step"]) == RunData.Number(last["step"])).First();
                var file = Path.Combine(r.Directory, "eval", RunData.Text(first["split"]) ?? "", RunData.Text(first["setting"]) ?? "", $"step-{(long)(RunData.Number(first["step"]) ?? 0):D6}.jsonl");
                var rows = MetricsWriter.Read(file).Take(3).ToList();
                if (rows.Count == 0) continue;
                any = true;
                h.Append("<h3><span class=\"swatch\" style=\"background:").Append(g.Colour).Append("\"></span>").Append(E(r.Name)).Append(" seed ").Append(r.Seed?.ToString(Inv) ?? "–")
                 .Append(" · ").Append(E(RunData.Text(first["split"]) ?? "")).Append(" · ").Append(E(RunData.Text(first["setting"]) ?? "")).Append(" · step ")
                 .Append(F(RunData.Number(first["step"]) ?? 0)).Append("</h3>\n");
                foreach (var s in rows)
                {
                    bool ok = s["correct"] is JsonValue c && c.GetValue<bool>();
                    h.Append("<div class=\"sample ").Append(ok ? "correct" : "wrong").Append("\"><div class=\"q\"><b>").Append(E(RunData.Text(s["id"]) ?? "")).Append("</b> ")
                     .Append(E(RunData.Text(s["question"]) ?? "")).Append(" <span class=\"gt\">ground truth: ").Append(E(RunData.Text(s["answer"]) ?? "")).Append("</span></div><pre>")
                     .Append(E(RunData.Text(s["response"]) ?? "")).Append("</pre><div class=\"verdict\">extracted: <code>").Append(E(RunData.Text(s["extracted_answer"]) ?? "(none)"))
                     .Append("</code> — ").Append(ok ? "correct" : "wrong").Append("</div></div>\n");
                }
            }
        if (!any) h.Append("<p class=\"empty\">No evaluation samples in these runs.</p>\n");
        h.Append("</section>\n");
    }

    const int W = 320, H = 210, Left = 52, Right = 12, Top = 24, Bottom = 34;

    /// <summary>A line chart: per group the mean line (gaps where missing) over its min–max band; steps on x.</summary>
    /// <param name="title">What the chart shows (its data-metric attribute); <paramref name="label"/> is written above it, when shorter.</param>
    static string Chart(string title, List<RunGroup> groups, Func<RunData, SortedDictionary<long, double?>> series, (double Lo, double Hi)? fixedRange = null,
        bool markers = false, string? label = null)
    {
        var data = groups.Select(g => (Group: g, Points: g.Aggregate(series))).ToList();
        var all = data.SelectMany(d => d.Points).Where(p => p.Mean is not null).ToList();
        var s = new StringBuilder();
        s.Append($"<svg class=\"chart\" data-metric=\"{E(title)}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{E(title)}\">");
        s.Append($"<text class=\"title\" x=\"{Left}\" y=\"15\">{E(label ?? title)}</text>");
        if (all.Count == 0)
        {
            s.Append($"<text class=\"nodata\" x=\"{W / 2}\" y=\"{H / 2}\" text-anchor=\"middle\">no values (missing)</text></svg>");
            return s.ToString();
        }
        double x0 = all.Min(p => p.Step), x1 = all.Max(p => p.Step);
        if (x1 == x0) { x0 -= 1; x1 += 1; }
        double y0 = all.Min(p => p.Min!.Value), y1 = all.Max(p => p.Max!.Value);
        if (fixedRange is { } r) { y0 = Math.Min(y0, r.Lo); y1 = Math.Max(y1, r.Hi); }
        if (y1 - y0 < 1e-12) { double pad = Math.Max(Math.Abs(y0) * 0.1, 0.5); y0 -= pad; y1 += pad; }
        var yTicks = Ticks(y0, y1, 5);
        y0 = Math.Min(y0, yTicks[0]); y1 = Math.Max(y1, yTicks[^1]);
        var xTicks = Ticks(x0, x1, 6).Where(t => t >= x0 - 1e-9 && t <= x1 + 1e-9 && Math.Abs(t - Math.Round(t)) < 1e-9).ToList();
        double pw = W - Left - Right, ph = H - Top - Bottom;
        double X(double v) => Left + (v - x0) / (x1 - x0) * pw;
        double Y(double v) => Top + (1 - (v - y0) / (y1 - y0)) * ph;

        s.Append("<g class=\"grid\">");
        foreach (var t in yTicks) s.Append($"<line x1=\"{Left}\" x2=\"{F(Left + pw)}\" y1=\"{F(Y(t))}\" y2=\"{F(Y(t))}\"/>");
        s.Append("</g><g class=\"axis\">");
        s.Append($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{F(Top + ph)}\"/><line x1=\"{Left}\" y1=\"{F(Top + ph)}\" x2=\"{F(Left + pw)}\" y2=\"{F(Top + ph)}\"/>");
        foreach (var t in yTicks) s.Append($"<text class=\"tick\" x=\"{Left - 5}\" y=\"{F(Y(t) + 3)}\" text-anchor=\"end\">{Label(t)}</text>");
        foreach (var t in xTicks) s.Append($"<text class=\"tick\" x=\"{F(X(t))}\" y=\"{F(Top + ph + 13)}\" text-anchor=\"middle\">{Label(t)}</text>");
        s.Append($"<text class=\"tick\" x=\"{F(Left + pw)}\" y=\"{H - 4}\" text-anchor=\"end\">step</text></g>");

        foreach (var (group, points) in data)
        {
            // Contiguous runs of present values: each gets a band and a line; a missing value breaks both.
            var segments = new List<List<(long Step, double? Mean, double? Min, double? Max)>>();
            List<(long Step, double? Mean, double? Min, double? Max)>? current = null;
            foreach (var p in points)
            {
                if (p.Mean is null) { current = null; continue; }
                if (current is null) segments.Add(current = []);
                current.Add(p);
            }
            foreach (var seg in segments)
            {
                if (group.Runs.Count > 1 && seg.Count > 1)
                {
                    var band = string.Join(" ", seg.Select(p => $"{F(X(p.Step))},{F(Y(p.Max!.Value))}").Concat(seg.AsEnumerable().Reverse().Select(p => $"{F(X(p.Step))},{F(Y(p.Min!.Value))}")));
                    s.Append($"<polygon class=\"band\" points=\"{band}\" fill=\"{group.Colour}\"/>");
                }
                var d = string.Join(" ", seg.Select((p, i) => $"{(i == 0 ? "M" : "L")}{F(X(p.Step))},{F(Y(p.Mean!.Value))}"));
                s.Append($"<path class=\"series\" d=\"{d}\" stroke=\"{group.Colour}\"/>");
                if (markers || seg.Count == 1)
                    foreach (var p in seg)
                        s.Append($"<circle class=\"marker\" cx=\"{F(X(p.Step))}\" cy=\"{F(Y(p.Mean!.Value))}\" r=\"2.5\" fill=\"{group.Colour}\"><title>step {p.Step}: {Label(p.Mean!.Value)}</title></circle>");
            }
        }
        s.Append("</svg>");
        return s.ToString();
    }

    /// <summary>About <paramref name="count"/> round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10ⁿ, as d3's ticks.</summary>
    public static List<double> Ticks(double lo, double hi, int count)
    {
        double raw = (hi - lo) / Math.Max(count, 1);
        double power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double error = raw / power;
        double step = power * (error >= Math.Sqrt(50) ? 10 : error >= Math.Sqrt(10) ? 5 : error >= Math.Sqrt(2) ? 2 : 1);
        var ticks = new List<double>();
        for (long i = (long)Math.Floor(lo / step + 1e-9); ; i++)
        {
            ticks.Add(i * step);
            if (i * step >= hi - 1e-9 * step) break;
        }
        return ticks;
    }

    static string Label(double v)
    {
        double a = Math.Abs(v);
        if (a == 0) return "0";
        if (a >= 1e6) return (v / 1e6).ToString("0.##", Inv) + "M";
        if (a >= 1e4) return (v / 1e3).ToString("0.#", Inv) + "k";
        if (a >= 1) return v.ToString("0.##", Inv);
        if (a >= 1e-3) return v.ToString("0.###", Inv);
        return v.ToString("0.#e0", Inv);
    }

    static string F(double v) => v.ToString("0.##", Inv);
    /// <summary>Text for HTML content and attribute values (UTF-8 page: only the five markup characters need escaping).</summary>
    static string E(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;").Replace("'", "&#39;");

    const string Css = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff;max-width:1560px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 2px;border-bottom:1px solid #ddd;padding-bottom:3px}h3{font-size:14px;margin:14px 0 6px}
.meta,.note{color:#666;margin:2px 0 8px}.empty{color:#999;font-style:italic}
.legend{list-style:none;padding:0;margin:8px 0}.legend li{margin:2px 0}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.charts{display:flex;flex-wrap:wrap;gap:10px}
svg.chart{background:#fcfcfc;border:1px solid #e4e4e4;border-radius:4px}
svg .title{font-size:12px;font-weight:600;fill:#333}svg .tick,svg .value{font-size:10px;fill:#666}svg .nodata{font-size:12px;fill:#aaa}
svg .grid line{stroke:#eee}svg .axis line{stroke:#999}svg line.axis{stroke:#999}
svg .series{fill:none;stroke-width:1.8;stroke-linejoin:round}svg .band{opacity:.18;stroke:none}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
table.runs code{font-size:11px;word-break:break-all}th{background:#f5f5f5}
.sample{border-left:4px solid #ccc;padding:4px 10px;margin:6px 0;background:#fafafa}.sample.correct{border-color:#2ca02c}.sample.wrong{border-color:#d62728}
.sample pre{white-space:pre-wrap;margin:4px 0;font-size:12px}.gt{color:#666}.verdict{font-size:12px;color:#444}
""";
}

using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ril.Data.Images;
using Ril.Evaluation;
using Ril.Tests.Data;
using Xunit.Abstractions;

namespace Ril.Tests.Evaluation;

/// <summary>
/// Two real runs of the trainer on the built-in suite (<see cref="TinySuiteRuns"/>), seeds 1 and 2, made once for the
/// tests below. With RIL_REPORT_SCREENSHOT=PATH set, the runs use <see cref="TinySuiteRuns.Demo"/> and the browser test
/// saves its screenshot there (that is how docs/report-screenshot.png is made).
/// </summary>
public sealed partial class TwoSuiteRuns : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"ril-report-{Guid.NewGuid():N}");
    public TinySuiteRuns.Options Options { get; }
    public string[] Runs { get; }
    public List<EvalSummary>[] Evaluations { get; }
    public double Seconds { get; }
    public static string? ScreenshotPath => Environment.GetEnvironmentVariable("RIL_REPORT_SCREENSHOT");

    public TwoSuiteRuns()
    {
        Options = ScreenshotPath is null
            ? new TinySuiteRuns.Options { TrainRows = 48, EvalRows = 8, SftSteps = 80, RlSteps = 8, EvalEvery = 4, MaxResponseTokens = 112 }
            : TinySuiteRuns.Demo;
        var clock = Stopwatch.StartNew();
        var suite = TinySuiteRuns.WriteSuite(Path.Combine(Root, "suite"), Options);
        Runs = [Path.Combine(Root, "runs", "seed-1"), Path.Combine(Root, "runs", "seed-2")];
        Evaluations = [TinySuiteRuns.Run(suite, Runs[0], 1, Options).Evaluations, TinySuiteRuns.Run(suite, Runs[1], 2, Options).Evaluations];
        Seconds = clock.Elapsed.TotalSeconds;
    }

    public void Dispose()
    {
        // The screenshot's runs stay in the temporary folder (the test's output names it), for `ril report`, `ril eval` or TensorBoard.
        if (ScreenshotPath is null && Directory.Exists(Root)) Directory.Delete(Root, true);
    }
}

public sealed partial class RunReportTests(TwoSuiteRuns runs, ITestOutputHelper output) : IClassFixture<TwoSuiteRuns>
{
    [Fact]
    public void A_run_directory_holds_metrics_events_evaluations_and_samples()
    {
        output.WriteLine($"two runs in {runs.Seconds:F1} s");
        var o = runs.Options;
        var dir = runs.Runs[0];
        var metrics = MetricsWriter.Read(Path.Combine(dir, "metrics.jsonl"));
        Assert.Equal(Enumerable.Range(1, o.RlSteps).Select(i => (long)i), metrics.Select(m => (long)m["step"]!));
        string[] required =
        [
            "reward/total", "reward/answer", "reward/format", "loss/total", "loss/policy", "loss/kl", "train/clip_fraction", "train/ratio",
            "train/approx_kl", "train/entropy", "train/kl_ref", "train/lr", "train/grad_norm", "response/length_mean", "response/length_p50",
            "response/length_clip_ratio", "response/end_token_share", "speed/rollout_tokens_per_s", "speed/update_tokens_per_s",
            "accuracy/train", "accuracy/train_epoch", "reflection/reflection_ratio", "reflection/correct_ratio_in_no_reflection_texts",
            "reflection_words/re-check", "reflection_words/yet",
        ];
        foreach (var m in metrics)
        {
            foreach (var key in required) Assert.True(m.ContainsKey(key), $"metrics.jsonl step {m["step"]} lacks {key}");
            Assert.Null(m["train/kl_ref"]);                                    // no reference model: missing, not 0
            Assert.True((double)m["train/entropy"]! > 0);
            Assert.InRange((double)m["response/length_mean"]!, 1, o.MaxResponseTokens);
        }
        output.WriteLine(string.Join("\n", metrics.Select(m => $"step {m["step"]}: reward {m["reward/total"]}, accuracy {m["accuracy/train"]}, length {m["response/length_mean"]}")));

        // Evaluations at step 0 (before any update), every EvalEvery steps, and the end; two splits × MAYE's three settings each time.
        var summaries = MetricsWriter.Read(Path.Combine(dir, "eval", "summary.jsonl"));
        var steps = Enumerable.Range(0, o.RlSteps / o.EvalEvery + 1).Select(i => (long)(i * o.EvalEvery)).ToList();
        Assert.Equal(steps.Count * 2 * 3, summaries.Count);
        Assert.Equal(steps, summaries.Select(s => (long)s["step"]!).Distinct());
        Assert.Equal(["t0.01_p0.001_pass@1", "t0.6_pass@1", "t1.0_pass@8"], summaries.Select(s => (string)s["setting"]!).Distinct());
        Assert.Equal(["val", "test_ood"], summaries.Select(s => (string)s["split"]!).Distinct());
        foreach (var s in runs.Evaluations[0])
        {
            output.WriteLine($"step {s.Step} {s.Split} {s.Setting}: {s.Accuracy:F3} ({s.Solved}/{s.Questions}), length {s.MeanResponseTokens:F1}");
            var lines = MetricsWriter.Read(Path.Combine(dir, "eval", s.Split, s.Setting, $"step-{s.Step:D6}.jsonl"));
            Assert.Equal(o.EvalRows * s.K, lines.Count);
            foreach (var line in lines)
                foreach (var key in new[] { "id", "sample", "question", "response", "extracted_answer", "correct", "answer" }) Assert.True(line.ContainsKey(key), key);
            var solved = lines.GroupBy(l => (string)l["id"]!).Count(g => g.Any(l => (bool)l["correct"]!));
            Assert.Equal(s.Solved, solved);                                   // pass@k: a question counts once, when any sample is correct
            Assert.Equal((double)solved / o.EvalRows, s.Accuracy);
        }

        // TensorBoard: every record framed and check-summed; the step scalars and evaluation accuracies are there.
        var events = Directory.GetFiles(dir, "events.out.tfevents.*");
        var records = ReadRecords(Assert.Single(events));
        Assert.True(records.Count > o.RlSteps * required.Length);
        Assert.Contains(records, r => ContainsAscii(r, "brain.Event:2"));
        Assert.Contains(records, r => ContainsAscii(r, "eval/val/t1.0_pass@8/accuracy"));
        Assert.Contains(records, r => ContainsAscii(r, "samples/train"));

        // The trained model is a model directory `ril eval` can load.
        Assert.True(File.Exists(Path.Combine(dir, "model", "config.json")) && File.Exists(Path.Combine(dir, "model", "tokenizer.json")));
    }

    static bool ContainsAscii(byte[] data, string text) => System.Text.Encoding.UTF8.GetString(data).Contains(text, StringComparison.Ordinal);

    /// <summary>The data of each TFRecord, checking both masked CRCs.</summary>
    static List<byte[]> ReadRecords(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<byte[]>();
        for (int at = 0; at < bytes.Length;)
        {
            var length = (int)BitConverter.ToUInt64(bytes, at);
            Assert.Equal(TensorBoardWriter.MaskedCrc32C(bytes.AsSpan(at, 8)), BitConverter.ToUInt32(bytes, at + 8));
            var data = bytes.AsSpan(at + 12, length).ToArray();
            Assert.Equal(TensorBoardWriter.MaskedCrc32C(data), BitConverter.ToUInt32(bytes, at + 12 + length));
            records.Add(data);
            at += 16 + length;
        }
        return records;
    }

    [GeneratedRegex("<svg class=\"chart\"")] private static partial Regex ChartTag();
    [GeneratedRegex("<svg class=\"chart bars\"")] private static partial Regex BarChartTag();
    [GeneratedRegex("class=\"series\"")] private static partial Regex SeriesTag();
    [GeneratedRegex("class=\"band\"")] private static partial Regex BandTag();

    [Fact]
    public void The_report_groups_the_seeds_and_draws_every_section_self_contained()
    {
        var html = RunReport.Render(runs.Runs.Select(RunData.Load).ToList());
        Assert.Contains("mean of 2 seeds (1, 2)", html);                        // equal configs but the seed: one group
        foreach (var section in new[] { "Accuracy (evaluation)", "Mean and max accuracy over evaluations", "Rewards", "Response length", "Reflection ratios",
                                        "Reflective words", "KL and entropy", "Throughput", "Sample responses" })
            Assert.Contains($"<h2>{section}</h2>", html);
        Assert.Contains("data-metric=\"val · t1.0_pass@8\"", html);
        Assert.Contains("data-metric=\"test_ood · t0.01_p0.001_pass@1\"", html);
        Assert.Contains("data-metric=\"reflection/correct_ratio_in_reflection_texts\"", html);
        Assert.Contains("data-metric=\"speed/rollout_tokens_per_s\"", html);
        Assert.True(ChartTag().Count(html) >= 6 + 3 + 20, $"{ChartTag().Count(html)} charts");
        Assert.Single(BarChartTag().Matches(html));
        Assert.True(BandTag().Count(html) >= 6, "seed bands");
        Assert.Contains("<table class=\"maye\">", html);
        Assert.Contains("class=\"sample ", html);
        // Self-contained: no script, no stylesheet or image to fetch, no address but the SVG namespace.
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("src=", html);
        Assert.DoesNotContain("url(", html);
        Assert.DoesNotContain(Regex.Matches(html, "https?://"), m => !html.AsSpan(m.Index).StartsWith("http://www.w3.org/2000/svg"));
    }

    [SkippableFact]
    public void Chromium_draws_the_charts()
    {
        var chromium = Browser.Find();
        Skip.If(chromium is null, "chromium is not installed (Debian: apt-get install chromium): the browser check did not run");
        var report = Path.Combine(runs.Root, "report.html");
        RunReport.Write(runs.Runs, report, "Ril: two tiny Dr.GRPO runs on the built-in suite (seeds 1, 2)");
        var png = Path.Combine(runs.Root, "report.png");
        var (dom, log) = Browser.Render(chromium, report, png, Path.Combine(runs.Root, "chrome-profile"), 1400, 5200);
        output.WriteLine(string.Join("\n", log.Split('\n').Where(l => !l.Contains("dbus", StringComparison.Ordinal))));   // headless without a session bus: noise

        // The DOM the browser built holds the charts and their lines.
        Assert.True(ChartTag().Count(dom) >= 29, $"the browser's DOM has {ChartTag().Count(dom)} charts");
        Assert.True(SeriesTag().Count(dom) >= 29, $"the browser's DOM has {SeriesTag().Count(dom)} series");

        // The screenshot is a real picture: large, and the series colour is drawn (not a blank page).
        var image = PngDecoder.DecodeImage(File.ReadAllBytes(png)).ToRgb();
        Assert.True(image.Width >= 1000 && image.Height >= 5000, $"{image.Width}×{image.Height}");
        int blue = 0, white = 0;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image.Rgb(x, y);
                if (Math.Abs(r - 0x1f) < 24 && Math.Abs(g - 0x77) < 24 && Math.Abs(b - 0xb4) < 24) blue++;
                if (r > 245 && g > 245 && b > 245) white++;
            }
        output.WriteLine($"{blue} series-blue pixels, {white} white of {image.Width * image.Height}");
        Assert.True(blue > 3000, $"only {blue} pixels in the series colour: are the lines drawn?");
        Assert.True(white < image.Width * image.Height * 0.97, "the page is nearly blank");

        if (TwoSuiteRuns.ScreenshotPath is { } keep)
        {
            File.Copy(png, keep, overwrite: true);
            output.WriteLine($"screenshot → {keep}; the runs and report.html stay in {runs.Root}");
        }
    }
}

/// <summary>Headless Chromium (Debian's `chromium`): a screenshot and the DOM after load.</summary>
public static class Browser
{
    public static string? Find() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    public static (string Dom, string Log) Render(string chromium, string page, string screenshot, string profile, int width, int height)
    {
        string[] common =
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--hide-scrollbars", $"--user-data-dir={profile}", $"--window-size={width},{height}",
        ];
        var url = new Uri(Path.GetFullPath(page)).AbsoluteUri;
        var log = Run(chromium, [.. common, $"--screenshot={screenshot}", url]).Err;
        var dom = Run(chromium, [.. common, "--dump-dom", url]).Out;
        Assert.True(File.Exists(screenshot), $"chromium wrote no screenshot:\n{log}");
        return (dom, log);
    }

    static (string Out, string Err) Run(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(true); Assert.Fail("chromium did not finish in 60 s"); }
        return (stdout.Result, stderr.Result);
    }
}

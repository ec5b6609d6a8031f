using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ril.Data;
using Ril.Evaluation;
using Xunit;

namespace Ril.Cli.Tests;

/// <summary>`ril eval --prior TRAIN --by FIELD`: the blind baselines and the per-field breakdown agree with the samples it writes.</summary>
public class EvalCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-eval-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Prints_the_blind_baselines_and_accuracy_per_family()
    {
        var data = Path.Combine(_dir, "data");
        var model = Path.Combine(_dir, "model");
        Processes.Check([.. Processes.Ril, "data", "synth", "--out", data, "--train", "200", "--val", "60", "--test", "10", "--image-size", "32"]);
        Processes.Check([.. Processes.Ril, "sft", "--init", "tiny", "--data", Path.Combine(data, "train.jsonl"), "--out", model, "--steps", "30", "--lr", "3e-3"]);
        var valFile = Path.Combine(data, "val.jsonl");
        var output = Processes.Check([.. Processes.Ril, "eval", "--model", model, "--dataset", valFile, "--settings", "0.01:0.001:1",
            "--max-new-tokens", "48", "--out", Path.Combine(_dir, "eval"), "--prior", Path.Combine(data, "train.jsonl"), "--by", "family"]);

        // The blind baselines, as AnswerPrior computes them on the same files.
        var val = JsonlDataset.Load(valFile, ImageMode.TextOnly).ToList();
        var prior = AnswerPrior.Fit(JsonlDataset.Load(Path.Combine(data, "train.jsonl"), ImageMode.TextOnly));
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"blind: question prior  accuracy {prior.Accuracy(val):F3}"), output);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"blind: always {prior.Overall}"), output);

        // Per family: the counts add up to the questions, and each matches the written samples.
        var samples = File.ReadLines(Path.Combine(_dir, "eval", "val", "t0.01_p0.001_pass@1", "step-000000.jsonl"))
            .Select(l => JsonNode.Parse(l)!).ToDictionary(n => (string)n["id"]!, n => (bool)n["correct"]!);
        var lines = Regex.Matches(output, @"  family (\S+)\s+accuracy [0-9.]+ \((\d+)/(\d+)\)  question prior ([0-9.]+)");
        Assert.True(lines.Count >= 10, output);
        Assert.Equal(val.Count, lines.Sum(m => int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        foreach (Match m in lines)
        {
            var family = val.Where(r => r.Extra["family"]!.ToString() == m.Groups[1].Value).ToList();
            Assert.Equal(family.Count, int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
            Assert.Equal(family.Count(r => samples[r.Id]), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
            Assert.Equal(prior.Accuracy(family).ToString("F3", CultureInfo.InvariantCulture), m.Groups[4].Value);
        }
    }
}

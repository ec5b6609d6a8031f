using System.Globalization;
using Ril.Evaluation;
using Xunit;

namespace Ril.Tests.Evaluation;

/// <summary>`ril report --markdown`'s training dynamics: a metric's mean over the first and the last tenth of a run's steps.</summary>
public sealed class DynamicsTableTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("ril-dynamics-").FullName;
    public void Dispose() => Directory.Delete(_root, true);

    [Fact]
    public void First_and_last_tenth_are_means_over_the_steps_that_have_the_metric()
    {
        var run = Path.Combine(_root, "my_run");
        Directory.CreateDirectory(run);
        // 20 steps: accuracy = step / 20; entropy logged only on even steps (10 values: a tenth is one value).
        File.WriteAllLines(Path.Combine(run, "metrics.jsonl"), Enumerable.Range(1, 20).Select(s => string.Create(CultureInfo.InvariantCulture,
            $$"""{"step": {{s}}, "accuracy/train": {{s / 20.0}}{{(s % 2 == 0 ? $", \"train/entropy\": {s}" : "")}}}""")));

        var data = RunData.Load(run);
        var (first, last) = data.FirstAndLastTenth("accuracy/train")!.Value;
        Assert.Equal(0.075, first, 12);                                                 // steps 1–2
        Assert.Equal(0.975, last, 12);                                                  // steps 19–20
        Assert.Equal((2.0, 20.0), data.FirstAndLastTenth("train/entropy")!.Value);
        Assert.Null(data.FirstAndLastTenth("ril/teacher_token_logprob"));

        var table = RunReport.DynamicsTable([run]);
        Assert.Contains("| my_run | 0.075 → 0.975 | 2.00 → 20.00 | – | – |", table);
    }
}

using System.Globalization;
using Ril.Tensors;
using Ril.Tensors.IO;
using Ril.Tests.Data;
using Ril.Training;
using Xunit.Abstractions;

namespace Ril.Tests.Training;

/// <summary>
/// Parity of the policy-gradient losses with an independent PyTorch reference: tests/fixtures/make_loss_fixtures.py
/// (run with Debian's python3-torch) writes, per variant of docs/spec/LOSSES.md, random rewards, masks of varied lengths
/// (an empty row, single-token rows, a full row), current / old / reference log-probs with ratios clipped on both
/// sides (ε_low = 0.2, ε_high = 0.28), β = 0.04, one micro-batch of k = 2 accumulation steps, and the advantages, the
/// loss and d loss / d logp computed in float64 by autograd. The test recomputes the advantages from the rewards
/// (<see cref="Advantages"/>), the loss (<see cref="PolicyLoss.Compute"/>) and its gradient, and compares.
///
/// Metric, per element: |a − b| / max(|b|, 1e-3·max|b|), a the engine, b the fixture; the worst over the tensor must
/// be ≤ 1e-5. Padding positions are compared too (the gradient there must be exactly 0 in both).
/// </summary>
public sealed class PolicyLossParityTests(ITestOutputHelper output)
{
    const double Tolerance = 1e-5;
    const double FloorFraction = 1e-3;

    static SafeTensorFile Load(string name) => SafeTensors.Read(Path.Combine(RepoPaths.Fixtures, "losses", name + ".safetensors"));
    static int Int(SafeTensorFile f, string key) => int.Parse(f.Metadata[key], CultureInfo.InvariantCulture);
    static float Float(SafeTensorFile f, string key) => float.Parse(f.Metadata[key], CultureInfo.InvariantCulture);

    /// <summary>Worst per-element relative error of <paramref name="actual"/> against <paramref name="expected"/>.</summary>
    static (double Rel, int At) Worst(ReadOnlySpan<float> actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxB = 0;
        foreach (var v in expected) maxB = Math.Max(maxB, Math.Abs(v));
        double floor = Math.Max(FloorFraction * maxB, 1e-30);
        double worst = 0; int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(diff)) diff = double.PositiveInfinity;
            double rel = diff / Math.Max(Math.Abs(expected[i]), floor);
            if (rel > worst) { worst = rel; at = i; }
        }
        return (worst, at);
    }

    [Theory]
    [InlineData("grpo")]
    [InlineData("bnpo")]
    [InlineData("dr_grpo")]
    [InlineData("dr_grpo_beta0")]    // β = 0: no reference log-probs are passed
    [InlineData("dapo")]
    [InlineData("reinforce_pp")]
    [InlineData("ril")]
    public void Loss_and_gradient_match_torch(string fixture)
    {
        var f = Load(fixture);
        var objective = Objectives.Parse(f.Metadata["objective"]);
        int rows = Int(f, "rows"), maxLen = Int(f, "max_length"), groupSize = Int(f, "group_size"), k = Int(f, "accumulation_steps");
        float epsLow = Float(f, "eps_low"), epsHigh = Float(f, "eps_high"), beta = Float(f, "beta");
        float batchTokens = Float(f, "batch_valid_tokens");
        var mask = f["mask"].Data;
        Assert.Equal(rows * maxLen, mask.Length);

        var adv = objective == Objective.ReinforcePP
            ? Advantages.ReinforcePlusPlus(f["rewards"].Data, mask, maxLen)
            : Advantages.GroupRelative(f["rewards"].Data, groupSize, objective.ScalesByStd());

        float[]? refLp = beta == 0 ? null : f["ref"].Data;
        if (beta == 0) Assert.DoesNotContain(f.Tensors, t => t.Name == "ref");
        var logp = Tensor.FromArray(f["logp"].Data, rows * maxLen).AsParameter("logp");
        var batch = new PolicyBatch(f["old"].Data, refLp, mask, adv, rows, maxLen, AccumulationSteps: k, BatchValidTokens: batchTokens);
        var (loss, stats) = PolicyLoss.Compute(objective, logp, batch, epsLow, epsHigh, beta);
        loss.Backward();
        Assert.NotNull(logp.Grad);

        var failures = new List<string>();
        void Check(string name, ReadOnlySpan<float> actual, float[] expected)
        {
            var (rel, at) = Worst(actual, expected);
            output.WriteLine($"{fixture,-14} {name,-11} worst rel {rel:E2} at {at} (engine {actual[at]:G9}, torch {expected[at]:G9})");
            if (!(rel <= Tolerance)) failures.Add($"{name}: relative error {rel:E3} at {at} (engine {actual[at]:G9}, torch {expected[at]:G9})");
        }
        Check("advantages", adv, f["advantages"].Data);
        Check("loss", [loss.Item()], f["loss"].Data);
        Check("grad logp", logp.Grad!.Data, f["grad"].Data);
        for (int j = 0; j < mask.Length; j++)
            if (mask[j] == 0) Assert.Equal(0f, logp.Grad!.Data[j]);   // padding never reaches the loss
        Assert.InRange(stats.ClipFraction, 1e-6f, 1f);                  // the fixtures clip on both sides
        Assert.True(failures.Count == 0, $"{fixture}: differs from PyTorch:\n  " + string.Join("\n  ", failures));
    }
}

using Xunit.Abstractions;
using Ril.Training;

namespace Ril.Tests.Training;

public sealed class RilRunTests(ITestOutputHelper output)
{
    static int E(string name, int d) => Environment.GetEnvironmentVariable(name) is { } v ? int.Parse(v) : d;
    static float E(string name, float d) => Environment.GetEnvironmentVariable(name) is { } v ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : d;

    [Fact]
    public void Explore()
    {
        if (Environment.GetEnvironmentVariable("RIL_EXPLORE") is null) return;
        var dir = Path.Combine(Path.GetTempPath(), $"ril-tiny-{Guid.NewGuid():N}");
        try
        {
            var r = TinyRilRuns.Run(dir, 1, new TinyRilRuns.Options { MaxResponseTokens = 128, PretrainEpochs = 4, RilSteps = E("RIL_STEPS", 60), TrainRows = 64, Layers = E("RIL_LAYERS", 1), Hidden = E("RIL_HIDDEN", 48),
                LearningRate = E("RIL_LR", 2e-4f), RilDiscriminatorLearningRate = E("RIL_DLR", 1e-4f), KlCoef = E("RIL_BETA", 0.01f),
                SftSteps = E("RIL_SFT", 150), Ril = new RilConfig { Discriminator = Enum.Parse<DiscriminatorMode>(Environment.GetEnvironmentVariable("RIL_D") ?? "Updating"),
                    AnswerWeight = E("RIL_WA", 1f), TeachersInGroup = E("RIL_TIG", 1) == 1 } }, s => { output.WriteLine(s); File.AppendAllText("/tmp/rilx/explore.log", s + "\n"); });
            output.WriteLine($"total {r.Seconds:F1} s");
            File.AppendAllText("/tmp/rilx/explore.log", $"total {r.Seconds:F1} s\n");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}

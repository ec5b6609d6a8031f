using Xunit.Abstractions;
using Ril.Training;

namespace Ril.Tests.Training;

public sealed class RilRunTests(ITestOutputHelper output)
{
    static int E(string name, int d) => Environment.GetEnvironmentVariable(name) is { } v ? int.Parse(v) : d;
    static float E(string name, float d) => Environment.GetEnvironmentVariable(name) is { } v ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : d;

    /// <summary>A tool for choosing tiny-scale settings, not a test: RIL_EXPLORE=LOGFILE runs one configured run and appends its log.</summary>
    [Fact]
    public void Explore()
    {
        if (Environment.GetEnvironmentVariable("RIL_EXPLORE") is not { } logPath) return;
        var dir = Environment.GetEnvironmentVariable("RIL_SUITE") ?? Path.Combine(Path.GetTempPath(), $"ril-tiny-{Guid.NewGuid():N}");
        void Log(string s) { output.WriteLine(s); File.AppendAllText(logPath, s + "\n"); }
        var r = TinyRilRuns.Run(dir, (ulong)E("RIL_SEED", 1), new TinyRilRuns.Options
        {
            MaxResponseTokens = E("RIL_LEN", 128), PretrainEpochs = 4, RilSteps = E("RIL_STEPS", 60), TrainRows = E("RIL_ROWS", 64), EvalRows = E("RIL_EVAL", 8),
            Layers = E("RIL_LAYERS", 1), Hidden = E("RIL_HIDDEN", 48), QuestionsPerStep = E("RIL_Q", 4), GroupSize = E("RIL_G", 4),
            LearningRate = E("RIL_LR", 2e-4f), RilDiscriminatorLearningRate = E("RIL_DLR", 1e-4f), KlCoef = E("RIL_BETA", 0.01f),
            SftSteps = E("RIL_SFT", 150), SftLearningRate = E("RIL_SFT_LR", 3e-3f), SftBatch = E("RIL_SFT_BATCH", 8),
            Teachers = (Environment.GetEnvironmentVariable("RIL_TEACHERS") ?? "terse,grouper").Split(','),
            Ril = new RilConfig
            {
                Discriminator = Enum.Parse<DiscriminatorMode>(Environment.GetEnvironmentVariable("RIL_D") ?? "Updating"),
                AnswerWeight = E("RIL_WA", 1f), TeachersInGroup = E("RIL_TIG", 1) == 1,
            },
        }, Log);
        Log($"total {r.Seconds:F1} s");
    }
}

using Xunit.Abstractions;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// A real RIL run on the built-in suite with two scripted teachers (terse and grouper): the discriminator learns in
/// pre-training, the student's similarity reward rises during RIL, and the student's writing moves toward the teachers'
/// styles, each measured (issue: RIL, must-show 2).
/// </summary>
public sealed class RilRunTests(ITestOutputHelper output)
{
    static readonly TinyRilRuns.Options Options = new()
    {
        TrainRows = 64, EvalRows = 8, SftSteps = 150, PretrainResponses = 2, PretrainEpochs = 4, RilSteps = 36, QuestionsPerStep = 4, GroupSize = 4,
        MaxResponseTokens = 96, LearningRate = 2e-4f, DiscriminatorLearningRate = 1e-3f, RilDiscriminatorLearningRate = 1e-4f, StyleSamples = 4,
    };

    [Fact]
    public void The_discriminator_learns_and_the_student_moves_toward_the_teachers()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-run-{Guid.NewGuid():N}");
        try
        {
            var r = TinyRilRuns.Run(dir, 1, Options, output.WriteLine);
            output.WriteLine($"{r.Seconds:F1} s");

            // 1. Pre-training: D separates student from teacher responses on held-out questions, for each teacher.
            var pre = r.Pretrain!;
            Assert.True(pre.After.Auc >= 0.9f && pre.After.Accuracy >= 0.8f, $"held-out AUC {pre.Before.Auc:F2} → {pre.After.Auc:F2}, accuracy {pre.Before.Accuracy:F2} → {pre.After.Accuracy:F2}");
            Assert.All(pre.After.PerTeacher.Values, t => Assert.True(t.Auc >= 0.85f, $"a teacher's AUC is {t.Auc:F2}"));

            // 2. The student's similarity reward (the share of its responses D takes for a teacher's) rises.
            int third = Options.RilSteps / 3;
            var early = r.MeanMetric(Enumerable.Range(0, third), "ril/similarity_student");
            var late = r.MeanMetric(Enumerable.Range(Options.RilSteps - third, third), "ril/similarity_student");
            Assert.True(late > early + 0.05, $"similarity reward of the student: first third {early:F3}, last third {late:F3}");

            // 3. Its writing moves toward the teachers: their text grows likelier under the policy, and more of its sampled
            //    val responses are nearest (by word 3-grams) to a teacher's style than before.
            var tEarly = r.MeanMetric(Enumerable.Range(0, third), "ril/teacher_token_logprob");
            var tLate = r.MeanMetric(Enumerable.Range(Options.RilSteps - third, third), "ril/teacher_token_logprob");
            Assert.True(tLate > tEarly + 0.3, $"mean log-prob of the teachers' tokens: {tEarly:F2} → {tLate:F2}");
            var before = TinyRilRuns.Result.TeacherShare(r.StyleBefore!, Options.Teachers);
            var after = TinyRilRuns.Result.TeacherShare(r.StyleAfter!, Options.Teachers);
            // This single run lands at +9 to +10 points depending on the float32 rounding of attention's softmax (96f586a);
            // +5 leaves room for that and still fails a student that does not move (3 % before).
            Assert.True(after > before + 0.05f, $"share of responses nearest a teacher's style: {before:P0} → {after:P0}");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}

using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Evaluation;
using Ril.Models;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Evaluation;

/// <summary>The evaluator with a judge in place of the verifier, and the training run's evaluation schedule over epochs.</summary>
public class EvaluatorTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), $"ril-evaluator-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    /// <summary>A stand-in for the LLM judge: "correct" when the response has an even number of characters.</summary>
    sealed class EvenLengthJudge : IRewardFunction
    {
        public int Calls;
        public string Name => "judge";
        public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(batch.Select(b => b.Response.Length % 2 == 0 ? 1f : 0f).ToArray());
        }
    }

    static List<DatasetRow> Rows(int n, string prefix) => Enumerable.Range(0, n)
        .Select(i => new DatasetRow($"{prefix}{i}", $"Question {i}?", "1", null, null, new JsonObject(), "q.jsonl", i + 1)).ToList();

    [Fact]
    public void The_judge_decides_and_a_question_is_solved_when_any_of_its_samples_is()
    {
        var judge = new EvenLengthJudge();
        var evaluator = new Evaluator(TinyModels.TextPolicy(1), judge, new EvaluatorOptions { MaxNewTokens = 6, QuestionsPerBatch = 3, Seed = 4 });
        var result = evaluator.Evaluate("val", Rows(7, "v"), EvalSetting.HighPass8, step: 5, epoch: 1);
        Assert.Equal(3, judge.Calls);                                             // one call per batch of questions
        Assert.Equal(7, result.Questions.Count);
        Assert.All(result.Questions, q => Assert.Equal(8, q.Samples.Count));
        Assert.All(result.Questions.SelectMany(q => q.Samples), s => Assert.Equal(s.Response.Length % 2 == 0, s.Correct));
        var s = result.Summary;
        Assert.Equal(("judge", 5L, 1, 7), (s.Verifier, s.Step, s.Epoch, s.Questions));
        Assert.Equal(result.Questions.Count(q => q.Samples.Any(x => x.Correct)), s.Solved);
        Assert.Equal((double)s.Solved / 7, s.Accuracy);
        Assert.Equal(result.Questions.SelectMany(q => q.Samples).Average(x => x.Correct ? 1.0 : 0.0), s.SampleAccuracy!.Value, 12);

        // Batching does not change what is sampled.
        var one = new Evaluator(TinyModels.TextPolicy(1), new EvenLengthJudge(), new EvaluatorOptions { MaxNewTokens = 6, QuestionsPerBatch = 1, Seed = 4 })
            .Evaluate("val", Rows(7, "v"), EvalSetting.HighPass8);
        Assert.Equal(result.Questions.SelectMany(q => q.Samples.Select(x => x.Response)), one.Questions.SelectMany(q => q.Samples.Select(x => x.Response)));

        result.WriteTo(_dir);
        var lines = MetricsWriter.Read(Path.Combine(_dir, "val", "t1.0_pass@8", "step-000005.jsonl"));
        Assert.Equal(56, lines.Count);
        Assert.Equal("judge", (string)MetricsWriter.Read(Path.Combine(_dir, "summary.jsonl")).Single()["verifier"]!);
    }

    [Fact]
    public void A_training_run_evaluates_at_step_zero_at_each_epoch_end_and_at_the_end()
    {
        var policy = TinyModels.TextPolicy(1);
        var config = new RlConfig { QuestionsPerStep = 3, GroupSize = 2, MaxResponseTokens = 4, MiniBatchSize = 6, MicroBatchSize = 6, LearningRate = 1e-3f, Seed = 2 };
        var recorder = new RolloutRecorder(new AnswerReward());
        var train = Rows(8, "t");
        var trainer = new RlTrainer(config, new DataFlow(train, policy, 3), new ResponseCollector(policy, config),
            new TrajectoryBuilder(policy, null, new RewardSet([(recorder, 1f)]), config),
            new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate, 0f), config));
        var evaluator = new Evaluator(policy, new AnswerReward(), new EvaluatorOptions { MaxNewTokens = 4 });
        using (var log = RunLog.Open(_dir, new JsonObject { ["name"] = "schedule", ["seed"] = 2 }))
        {
            var run = new TrainingRun(trainer, recorder, log, train.Count, evaluator, [new EvalSplit("val", Rows(2, "v"))], [EvalSetting.Of(0, 1, 1)]);
            run.Run(7);
            // 8 questions, 3 per step: the first epoch ends inside step 3, the second inside step 6; step 7 is the last.
            Assert.Equal([0L, 3, 6, 7], run.Evaluations.Select(e => e.Step));
            Assert.Equal([0, 1, 2, 2], run.Evaluations.Select(e => e.Epoch));
            Assert.Equal("t0.0_pass@1", run.Evaluations[0].Setting);
        }
        var metrics = MetricsWriter.Read(Path.Combine(_dir, "metrics.jsonl"));
        Assert.Equal([0.0, 0, 0, 1, 1, 1, 2], metrics.Select(m => (double)m["epoch"]!));
        Assert.All(metrics, m => Assert.InRange((double)m["response/length_max"]!, 1, 4));   // L = 4
        Assert.Equal(4, MetricsWriter.Read(Path.Combine(_dir, "eval", "summary.jsonl")).Count);
    }
}

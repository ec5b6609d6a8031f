using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Models;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>The four-step loop end to end on a tiny model, with a reward the policy can learn quickly.</summary>
public class RlLoopTests
{
    /// <summary>1 when the response starts with a character of even code: about half of random responses, learnable from the first token.</summary>
    sealed class EvenFirstCharacter : IRewardFunction
    {
        public string Name => "even_first";
        public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
            Task.FromResult(batch.Select(b => b.Response.Length > 0 && b.Response[0] % 2 == 0 ? 1f : 0f).ToArray());
    }

    (RlTrainer trainer, ChatModel policy) Build(Objective objective, float beta)
    {
        var policy = TinyModels.TextPolicy(1);
        var reference = beta == 0 ? null : TinyModels.TextPolicy(1);
        var config = new RlConfig
        {
            Objective = objective, QuestionsPerStep = 8, GroupSize = 4, MaxResponseTokens = 4, LearningRate = 1e-2f,
            MiniBatchSize = 16, MicroBatchSize = 8, KlCoef = beta, Seed = 3,
        };
        var rewards = new RewardSet([(new EvenFirstCharacter(), 1f)]);
        var trainer = new RlTrainer(config, new DataFlow(TinyModels.NumberedQuestions(16), policy, 5), new ResponseCollector(policy, config),
            new TrajectoryBuilder(policy, reference, rewards, config), new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate, 0f), config));
        return (trainer, policy);
    }

    [Theory]
    [InlineData(Objective.DrGrpo, 0f)]
    [InlineData(Objective.Grpo, 0.01f)]
    public void Rewards_rise_over_a_few_steps(Objective objective, float beta)
    {
        var (trainer, _) = Build(objective, beta);
        var history = Enumerable.Range(0, 25).Select(_ => trainer.RunStep()).ToList();
        float first = history.Take(3).Average(m => m.Reward), last = history.TakeLast(3).Average(m => m.Reward);
        Assert.True(last > first + 0.25f && last > 0.8f, $"{objective}: reward {first:F2} over the first steps → {last:F2} over the last");
        Assert.All(history, m => Assert.Equal(2, m.Update.OptimizerSteps));   // 32 responses, mini-batches of 16
        Assert.True(history[^1].RolloutTokensPerSecond > 0 && history[^1].UpdateTokensPerSecond > 0);
        if (beta > 0) Assert.True(history[^1].Update.Kl > 0, "the KL to the reference should be measured");
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var a = Build(Objective.DrGrpo, 0f).trainer;
        var b = Build(Objective.DrGrpo, 0f).trainer;
        for (int i = 0; i < 3; i++) Assert.Equal(a.RunStep().Update.Loss, b.RunStep().Update.Loss);
    }

    [Fact]
    public void Resuming_from_a_checkpoint_continues_exactly()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-resume-{Guid.NewGuid():N}");
        try
        {
            var (straight, straightPolicy) = Build(Objective.DrGrpo, 0f);
            var expected = Enumerable.Range(0, 5).Select(_ => straight.RunStep().Update.Loss).ToList();

            var (first, firstPolicy) = Build(Objective.DrGrpo, 0f);
            for (int i = 0; i < 3; i++) first.RunStep();
            var stale = Path.Combine(dir, "checkpoints", ".tmp-step-000002-4242");   // a save that a kill cut short
            Directory.CreateDirectory(stale);
            TrainingCheckpoint.Save(dir, firstPolicy.Parameters(), first.Updater.Optimizer, first.State, keepLast: 2);
            Assert.False(Directory.Exists(stale), "a later save removes what an interrupted one left");

            var (second, secondPolicy) = Build(Objective.DrGrpo, 0f);   // a fresh process, as after kill -9
            var latest = TrainingCheckpoint.List(dir)[^1];
            second.Restore(TrainingCheckpoint.Load(latest, secondPolicy.Parameters(), second.Updater.Optimizer));
            var resumed = Enumerable.Range(0, 2).Select(_ => second.RunStep().Update.Loss).ToList();
            Assert.Equal(expected[3..], resumed);
            foreach (var (a, b) in straightPolicy.Parameters().Zip(secondPolicy.Parameters())) Assert.Equal(a.ToArray(), b.ToArray());

            Directory.CreateDirectory(Path.Combine(dir, "checkpoints", ".tmp-step-000009-1"));   // a save that crashed midway
            Assert.Equal(latest, TrainingCheckpoint.List(dir)[^1]);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}

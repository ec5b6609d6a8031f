using Ril.Models;
using Ril.Rewards;
using Ril.Training;
using Xunit;

namespace Ril.Tests.Training;

/// <summary>`trainer.old_logprobs: sampler`: π_old of the student's rows comes from the sampler, not from a second forward.</summary>
public class SamplerLogProbsTests
{
    sealed class Zero : IRewardFunction
    {
        public string Name => "zero";
        public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) => Task.FromResult(new float[batch.Count]);
    }

    static (Trajectory Recomputed, Trajectory FromSampler) BothWays(ChatModel policy, int maxTokens, bool pack)
    {
        var config = new RlConfig { QuestionsPerStep = 3, GroupSize = 4, MaxResponseTokens = maxTokens, MicroBatchSize = 5, Seed = 3, Pack = pack, TopK = 20 };
        var sampler = config with { OldLogProbsFromSampler = true };
        var questions = new DataFlow(TinyModels.NumberedQuestions(6), policy, 2).Next(config.QuestionsPerStep);
        var rewards = new RewardSet([(new Zero(), 1f)]);
        var recorded = new ResponseCollector(policy, sampler).Collect(questions, 11);
        var plain = new ResponseCollector(policy, config).Collect(questions, 11);
        Assert.Equal(plain.Select(r => r.Tokens), recorded.Select(r => r.Tokens));             // recording changes nothing sampled
        Assert.All(plain, r => Assert.Null(r.SamplerLogProbs));
        return (new TrajectoryBuilder(policy, null, rewards, config).Build(questions, plain, config.GroupSize),
                new TrajectoryBuilder(policy, null, rewards, sampler).Build(questions, recorded, config.GroupSize));
    }

    [Theory]
    [InlineData(false, 12, false)]
    [InlineData(true, 12, true)]
    [InlineData(true, 6, false)]   // responses cut at L: the sampler's values are cut the same way
    public void The_samplers_log_probs_and_entropies_equal_the_recomputed_ones(bool vlm, int maxTokens, bool pack)
    {
        var policy = vlm ? TinyModels.SuiteStudent(32, 2, 4).Policy : TinyModels.TextPolicy(5);
        var (recomputed, fromSampler) = BothWays(policy, maxTokens, pack);
        Assert.Equal(recomputed.Mask, fromSampler.Mask);
        int compared = 0;
        for (int i = 0; i < recomputed.Mask.Length; i++)
        {
            if (recomputed.Mask[i] == 0) continue;
            Assert.Equal(recomputed.OldLogProbs[i], fromSampler.OldLogProbs[i], 1e-4);
            Assert.Equal(recomputed.Entropy[i], fromSampler.Entropy[i], 1e-4);
            compared++;
        }
        Assert.True(compared > 3 * 4, $"{compared} response tokens compared");
        for (int r = 0; r < fromSampler.Rollouts.Count; r++)   // the student's rows are the sampler's numbers themselves, not a forward's
        {
            var lp = fromSampler.Rollouts[r].SamplerLogProbs!;
            for (int t = 0; t < Math.Min(lp.Length, maxTokens); t++) Assert.Equal(lp[t], fromSampler.OldLogProbs[r * maxTokens + t]);
        }
    }

    [Fact]
    public void Teacher_rows_have_no_sampler_values_and_are_computed_by_a_forward()
    {
        var policy = TinyModels.TextPolicy(5);
        var config = new RlConfig { QuestionsPerStep = 2, GroupSize = 2, MaxResponseTokens = 10, MicroBatchSize = 3, OldLogProbsFromSampler = true };
        var questions = new DataFlow(TinyModels.NumberedQuestions(2), policy, 2).Next(2);
        var students = new ResponseCollector(policy, config).Collect(questions, 1);
        var teacherTokens = policy.EncodeRaw("answer 1");
        var rollouts = students.Concat([new Rollout(0, "terse", teacherTokens, "answer 1", "stop"), new Rollout(1, "terse", teacherTokens, "answer 1", "stop")]).ToList();
        var rewards = new RewardSet([(new Zero(), 1f)]);
        var mixed = new TrajectoryBuilder(policy, null, rewards, config).Build(questions, rollouts, 2, outsideGroups: 2);
        var all = new TrajectoryBuilder(policy, null, rewards, config with { OldLogProbsFromSampler = false }).Build(questions, rollouts, 2, outsideGroups: 2);
        int L = config.MaxResponseTokens;
        for (int r = students.Count; r < rollouts.Count; r++)
            for (int t = 0; t < teacherTokens.Length; t++)
            {
                Assert.NotEqual(0f, mixed.OldLogProbs[r * L + t]);
                Assert.Equal(all.OldLogProbs[r * L + t], mixed.OldLogProbs[r * L + t], 1e-5);
            }
    }
}

using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Distributed;
using Ril.Tensors.Kernels;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// One RL step (dr_grpo) of a fixed configuration, with its breakdown: generation, log-probs (π_old), reward, update.
/// Student: Llama-layout text model, d 256, 4 layers, 4 heads (2 kv), SwiGLU 688, the 512-token test tokenizer;
/// 8 questions × G = 4, up to 64 response tokens, T = 1, mini-batch 16, micro-batch 8. Median of 5 steps after 2.
/// The untrained student never answers right, so every advantage is 0 and backward leaves no gradient; with
/// <c>--signal</c> a stand-in reward (the share of digits in the response) varies within groups and the update computes,
/// sums and applies real gradients. Under <c>mpirun -np K</c> the K ranks share each step's 8 questions (data-parallel);
/// rank 0 prints the wall time of a step, the gradient allreduce inside it (waiting for the slowest rank included) and,
/// measured apart after a barrier, the cost of one allreduce of all gradients.
/// </summary>
public static class RlBench
{
    public static void Run(string[] args)
    {
        var world = World.Start();
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Ril.sln"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Ril.sln not found above the benchmark");
        var tokenizer = BpeTokenizer.Load(Path.Combine(root, "tests", "fixtures", "tokenizer", "trained", "tokenizer.json"));
        var text = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 256, IntermediateSize = 688, NumLayers = 4, NumHeads = 4, NumKvHeadsField = 2 };
        var policy = RilVlmFamily.Chat(VisionLanguageModel.Create(text, null, 1, -1, new Rng(1)), tokenizer);
        var config = new RlConfig { Objective = Objective.DrGrpo, QuestionsPerStep = 8, GroupSize = 4, MaxResponseTokens = 64, MiniBatchSize = 16, MicroBatchSize = 8, LearningRate = 1e-5f };
        var rows = Enumerable.Range(0, 64).Select(i => new DatasetRow($"q{i}", $"What is {i} plus {i + 1}? Think step by step.", $"{2 * i + 1}", null, null, new JsonObject(), "bench", i + 1)).ToList();
        var trainer = new RlTrainer(config, new DataFlow(rows, policy, 1), new ResponseCollector(policy, config),
            new TrajectoryBuilder(policy, null, new RewardSet(args.Contains("--signal") ? [(new AnswerReward(), 1f), (new DigitShare(), 1f)] : [(new AnswerReward(), 1f)]), config),
            new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate), config));
        long parameters = policy.Parameters().Sum(p => (long)p.Length);
        bool printer = world.Rank == 0;
        if (printer) Console.WriteLine($"# rl: dr_grpo, {parameters / 1e6:F1}M parameters, 8 questions x G=4, max 64 response tokens, threads={WorkerPool.Shared.Threads}, ranks={world.Size}");
        for (int i = 0; i < 2; i++) trainer.RunStep();
        var steps = Enumerable.Range(0, 5).Select(_ =>
        {
            world.Barrier();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var metrics = trainer.RunStep();
            return (Metrics: metrics, Wall: clock.Elapsed.TotalSeconds);
        }).OrderBy(s => s.Wall).ToList();
        var (m, wall) = steps[steps.Count / 2];
        if (printer)
            Console.WriteLine($"rl step_s={Total(m):F2} generation_s={m.RolloutSeconds:F2} logprobs_s={m.LogProbSeconds:F2} reward_s={m.RewardSeconds:F3} update_s={m.Update.Seconds:F2} " +
                              $"rollout_tok_s={m.RolloutTokensPerSecond:F0} update_tok_s={m.UpdateTokensPerSecond:F0} mean_response_tokens={m.ResponseLength:F1}");
        double allReduce = AllReduceSeconds(trainer.Updater.Optimizer.AllParameters.ToList(), world);
        if (printer)
            Console.WriteLine($"rl ranks={world.Size} wall_step_s={wall:F2} optimizer_steps={m.Update.OptimizerSteps} grad_norm={m.Update.GradNorm:G3} " +
                              $"allreduce_in_step_s={m.Update.AllReduceSeconds:F3} allreduce_s={allReduce:F4} allreduce_mb={parameters * 4 / 1e6:F1}");
        World.Stop();
    }

    /// <summary>Median of 10 sums of every gradient over the ranks, each started together after a barrier (0 for one rank).</summary>
    static double AllReduceSeconds(List<Tensor> parameters, ICommunicator world)
    {
        if (world.Size == 1) return 0;
        foreach (var p in parameters) p.GradData().Fill(1f);
        var times = Enumerable.Range(0, 10).Select(_ =>
        {
            world.Barrier();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            GradientSync.AllReduceSum(parameters, world);
            return clock.Elapsed.TotalSeconds;
        }).Order().ToList();
        return times[times.Count / 2];
    }

    /// <summary>A stand-in reward that varies between an untrained model's samples: the share of digits among the response's characters.</summary>
    sealed class DigitShare : IRewardFunction
    {
        public string Name => "digit_share";
        public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
            Task.FromResult(batch.Select(b => b.Response.Length == 0 ? 0f : b.Response.Count(char.IsAsciiDigit) / (float)b.Response.Length).ToArray());
    }

    static double Total(StepMetrics m) => m.RolloutSeconds + m.LogProbSeconds + m.RewardSeconds + m.Update.Seconds;
}

using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Models;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Kernels;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// One RL step (dr_grpo) of a fixed configuration, with its breakdown: generation, log-probs (π_old), reward, update.
/// Student: Llama-layout text model, d 256, 4 layers, 4 heads (2 kv), SwiGLU 688, the 512-token test tokenizer;
/// 8 questions × G = 4, up to 64 response tokens, T = 1, mini-batch 16, micro-batch 8. Median of 5 steps after 2.
/// </summary>
public static class RlBench
{
    public static void Run(string[] args)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Ril.sln"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Ril.sln not found above the benchmark");
        var tokenizer = BpeTokenizer.Load(Path.Combine(root, "tests", "fixtures", "tokenizer", "trained", "tokenizer.json"));
        var text = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 256, IntermediateSize = 688, NumLayers = 4, NumHeads = 4, NumKvHeadsField = 2 };
        var policy = new Policy(VisionLanguageModel.Create(text, null, 1, -1, new Rng(1)), tokenizer, new ChatTemplate());
        var config = new RlConfig { Objective = Objective.DrGrpo, QuestionsPerStep = 8, GroupSize = 4, MaxResponseTokens = 64, MiniBatchSize = 16, MicroBatchSize = 8, LearningRate = 1e-5f };
        var rows = Enumerable.Range(0, 64).Select(i => new DatasetRow($"q{i}", $"What is {i} plus {i + 1}? Think step by step.", $"{2 * i + 1}", null, null, new JsonObject(), "bench", i + 1)).ToList();
        var trainer = new RlTrainer(config, new DataFlow(rows, policy, null, 1), new ResponseCollector(policy, config),
            new TrajectoryBuilder(policy, null, new RewardSet([(new AnswerReward(), 1f)]), config),
            new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate), config));
        long parameters = policy.Parameters().Sum(p => (long)p.Length);
        Console.WriteLine($"# rl: dr_grpo, {parameters / 1e6:F1}M parameters, 8 questions x G=4, max 64 response tokens, threads={WorkerPool.Shared.Threads}");
        for (int i = 0; i < 2; i++) trainer.RunStep();
        var steps = Enumerable.Range(0, 5).Select(_ => trainer.RunStep()).OrderBy(m => Total(m)).ToList();
        var m = steps[steps.Count / 2];
        Console.WriteLine($"rl step_s={Total(m):F2} generation_s={m.RolloutSeconds:F2} logprobs_s={m.LogProbSeconds:F2} reward_s={m.RewardSeconds:F3} update_s={m.Update.Seconds:F2} " +
                          $"rollout_tok_s={m.RolloutTokensPerSecond:F0} update_tok_s={m.UpdateTokensPerSecond:F0} mean_response_tokens={m.ResponseLength:F1}");
    }

    static double Total(StepMetrics m) => m.RolloutSeconds + m.LogProbSeconds + m.RewardSeconds + m.Update.Seconds;
}

using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Evaluation;
using Ril.Models;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Evaluation;

/// <summary>
/// Real, tiny runs on the built-in suite: a small VLM (SigLIP-style tower on 32-pixel images, a one-layer decoder, the
/// fixture BPE vocabulary) is warmed up by SFT on gold solutions, then trained by the real <see cref="RlTrainer"/>
/// (Dr.GRPO, answer reward + boxed-answer format reward) with MAYE's evaluation on val and test_ood, logged by
/// <see cref="RunLog"/> exactly as a `ril train` run would be. Small enough for a test; accuracy is what it is.
/// </summary>
public static class TinySuiteRuns
{
    public sealed record Options
    {
        public int TrainRows { get; init; } = 48;
        public int EvalRows { get; init; } = 8;
        public int SftSteps { get; init; } = 30;
        public int RlSteps { get; init; } = 6;
        public int EvalEvery { get; init; } = 3;
        public int MaxResponseTokens { get; init; } = 40;
        public int QuestionsPerStep { get; init; } = 4;
        public int GroupSize { get; init; } = 4;
    }

    /// <summary>The built-in suite at 32 pixels (train, val, test_ood).</summary>
    public static string WriteSuite(string dir, Options o)
    {
        SuiteWriter.Write(dir, new SuiteOptions(Seed: 1, TrainRows: o.TrainRows, ValRows: o.EvalRows, TestRows: o.EvalRows, ImageSize: 32));
        return dir;
    }

    /// <summary>The options of the runs behind docs/report-screenshot.png (about 20 s each on two cores).</summary>
    public static readonly Options Demo = new() { TrainRows = 64, EvalRows = 16, SftSteps = 150, RlSteps = 20, EvalEvery = 5, MaxResponseTokens = 128 };

    public static TrainingRun Run(string suiteDir, string runDir, ulong seed, Options o, ITrainingView? view = null)
    {
        var (policy, vlm) = TinyModels.SuiteStudent(hidden: 48, layers: 1, seed);
        var model = policy.Model;

        var train = JsonlDataset.Load(Path.Combine(suiteDir, "train.jsonl"));
        var val = JsonlDataset.Load(Path.Combine(suiteDir, "val.jsonl"));
        var test = JsonlDataset.Load(Path.Combine(suiteDir, "test_ood.jsonl"));
        var flow = new DataFlow(train, policy, seed);

        // Warm-up: SFT on the gold solutions, so that responses end in \boxed{} and RL has some reward to work with.
        TinyModels.WarmUpOnGold(policy, flow, train, o.SftSteps, batch: 8, lr: 3e-3f, seed + 100);

        var config = new RlConfig
        {
            Objective = Objective.DrGrpo, QuestionsPerStep = o.QuestionsPerStep, GroupSize = o.GroupSize, MaxResponseTokens = o.MaxResponseTokens,
            TopP = 0.95f, TopK = 50,   // RIL's rollout sampling; also keeps a barely trained model off special tokens
            LearningRate = 1e-3f, MiniBatchSize = o.QuestionsPerStep * o.GroupSize, MicroBatchSize = o.QuestionsPerStep * o.GroupSize / 2, Seed = seed,
        };
        var recorder = new RolloutRecorder(new AnswerReward());
        var rewards = new RewardSet([(recorder, 1f), (new FormatReward(FormatRule.BoxedAnswer), 0.5f)]);
        var trainer = new RlTrainer(config, flow, new ResponseCollector(policy, config), new TrajectoryBuilder(policy, null, rewards, config),
            new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate, 0f), config));
        var evaluator = new Evaluator(policy, new AnswerReward(), new EvaluatorOptions { MaxNewTokens = o.MaxResponseTokens, Seed = seed });

        var runConfig = new JsonObject
        {
            ["name"] = "tiny-suite-dr_grpo", ["seed"] = (long)seed, ["objective"] = "dr_grpo", ["dataset"] = "built-in suite (32 px)",
            ["train_rows"] = o.TrainRows, ["eval_rows"] = o.EvalRows, ["sft_warmup_steps"] = o.SftSteps, ["rl_steps"] = o.RlSteps,
            ["questions_per_step"] = o.QuestionsPerStep, ["group_size"] = o.GroupSize, ["max_response_tokens"] = o.MaxResponseTokens,
            ["rewards"] = "answer + 0.5 format(boxed)", ["model"] = "tiny VLM (1-layer decoder d=48, 1-layer vision d=32)",
        };
        using var log = RunLog.Open(runDir, runConfig);
        var run = new TrainingRun(trainer, recorder, log, train.Count, evaluator, [new EvalSplit("val", val), new EvalSplit("test_ood", test)],
            EvalSetting.Maye, new EvalSchedule(EverySteps: o.EvalEvery, EachEpoch: false));
        run.Run(o.RlSteps, view);
        // The trained model, as a model directory `ril eval` can load.
        var modelDir = Path.Combine(runDir, "model");
        Checkpoint.Save(modelDir, model.ConfigJson(), model.Parameters());
        File.Copy(Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json"), Path.Combine(modelDir, "tokenizer.json"), overwrite: true);
        return run;
    }
}

using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Evaluation;
using Ril.Models;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril train --config RECIPE`: an RL run of the four-step pipeline (grpo, bnpo, dr_grpo, dapo, reinforce_pp) or a RIL run, with MAYE's
/// evaluation scheme, written to runs/NAME/ (config.json, metrics.jsonl, TensorBoard events, evaluations, checkpoints,
/// the final model). An existing run directory is never overwritten: --resume continues it from its last checkpoint.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "YAML recipe (see configs/); its model.path is a model directory or a Hub id Org/Name[@revision]", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a recipe key: --set trainer.lr=1e-6 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var algo = new Option<string?>("--algo") { Description = "Objective: grpo, bnpo, dr_grpo, dapo, reinforce_pp, ril (same as --set trainer.algo=…)" };
        var name = new Option<string?>("--name") { Description = "Run name: the run goes to runs/NAME (same as --set run.name=…)" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in runs/NAME from its last checkpoint, with the run's own recipe (only trainer.steps may change)" };
        var overrideRecipe = new Option<bool>("--override-recipe")
        {
            Description = "With --resume: continue with this recipe even where it differs from the run's config.json (which stays as it was; the changes are recorded in overrides.jsonl beside it)",
        };
        var command = new Command("train", "Train a model with RL (grpo, bnpo, dr_grpo, dapo, reinforce_pp) or RIL (ril: teachers in the group, a discriminator's similarity reward) on a dataset, as a recipe says, fully or through LoRA adapters; metrics, evaluations, checkpoints and the final model (or adapter) go to runs/NAME.")
            { config, set, algo, name, resume, overrideRecipe };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var overrides = (parse.GetValue(set) ?? []).ToList();
            if (parse.GetValue(algo) is { } a) overrides.Add($"trainer.algo={a}");
            if (parse.GetValue(name) is { } n) overrides.Add($"run.name={n}");
            return Train(Recipe.Load(parse.GetValue(config)!, overrides), parse.GetValue(resume), parse.GetValue(overrideRecipe));
        }));
        return command;
    }

    public static int Train(Recipe recipe, bool resume, bool overrideRecipe = false)
    {
        var runDir = recipe.RunDirectory;
        var checkpoints = TrainingCheckpoint.List(runDir);
        if (resume && checkpoints.Count == 0) throw new ArgumentException($"{runDir}: no checkpoint to resume from");
        if (!resume && Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new ArgumentException($"{runDir} already exists: pass --resume to continue it, or choose another --name");
        if (resume) CheckResumedRecipe(runDir, recipe, overrideRecipe);

        var studentDir = ModelArgument.Resolve(recipe.Model);   // a directory, or a Hub id's cached snapshot
        var policy = ChatModel.Load(studentDir);
        recipe.CheckModel(policy.Model);
        var trainable = TrainableParts.Apply(policy.Parameters(), recipe.TrainableParts);
        var (adapters, reference) = LeanTraining(recipe, policy, ref trainable);
        // What a checkpoint holds of the policy: everything, or with LoRA only what trains (not the frozen base).
        IEnumerable<Tensor> saved = adapters is null ? policy.Parameters() : trainable;
        var images = recipe.TextOnly ? ImageMode.TextOnly : ImageMode.Require;
        var train = DatasetSource.Load(recipe.TrainData, recipe.DataKeys, images);
        var splits = new List<EvalSplit>();
        if (recipe.ValData is { } val) splits.Add(new EvalSplit("val", Limit(DatasetSource.Load(val, recipe.DataKeys, images), recipe.EvalLimit)));
        if (recipe.TestData is { } test) splits.Add(new EvalSplit("test", Limit(DatasetSource.Load(test, recipe.DataKeys, images), recipe.EvalLimit)));
        // Before anything the recipe's sizes decide is allocated: a step that cannot fit is refused, naming the keys.
        int longestPrompt = train.Max(r => policy.PromptIds(r).Length);
        var stepMemory = StepMemory.Estimate(recipe.Rl, policy.Model, longestPrompt, policy.Parameters().Sum(p => p.StorageBytes));
        recipe.CheckMemory(stepMemory, StepMemory.AvailableBytes(), longestPrompt);

        using var verdict = EvalCommand.Verdict(recipe.AnswerReward == "judge" ? $"{recipe.JudgeUrl},{recipe.JudgeModel}" : null,
            recipe.AnswerReward == "judge" ? Path.Combine(runDir, "judge-cache.jsonl") : null, recipe.JudgeApiKeyEnv);
        var recorder = new RolloutRecorder(verdict.Function);
        var rl = recipe.Rl;
        var optimizer = new AdamW([new ParameterGroup(trainable, rl.WeightDecay)], rl.LearningRate, rl.Beta1, rl.Beta2, rl.AdamEps);
        var updater = new PolicyUpdater(policy, optimizer, rl, recipe.Schedule());
        var flow = new DataFlow(train, policy, rl.Seed);
        StepTrainer trainer = rl.Objective == Objective.Ril
            ? RilTrainerOf(recipe, policy, reference, flow, recorder, updater)
            : new RlTrainer(rl, flow, new ResponseCollector(policy, rl), new TrajectoryBuilder(policy, reference, new RewardSet(RewardsOf(recipe, recorder)), rl), updater);
        if (resume)
        {
            trainer.Restore(TrainingCheckpoint.Load(checkpoints[^1], saved, optimizer, trainer.CheckpointParts));
            Console.WriteLine($"resuming {runDir} at step {trainer.Step} from {checkpoints[^1]}");
        }

        var evaluator = new Evaluator(policy, verdict.Function, new EvaluatorOptions { MaxNewTokens = recipe.EvalMaxTokens, Seed = rl.Seed });
        using var log = RunLog.Open(runDir, resume ? null : recipe.ToJson(), resumedAt: resume ? trainer.Step : null);
        // Memory per step: the models' weights, gradients and optimizer states, the step's activation peak, and the KV
        // caches of one step's rollouts (Q·G sequences of the longest prompt plus L tokens, as StepMemory estimates them).
        var models = policy.Parameters().Concat(adapters?.Parameters() ?? []).Concat(trainer.CheckpointParts.SelectMany(p => p.Parameters)).ToList();
        var optimizers = trainer.CheckpointParts.Select(p => p.Optimizer).Prepend(optimizer).ToList();
        long kvCaches = (long)stepMemory.KvCaches;
        MemoryBreakdown.ResetPeakResident();
        var run = new TrainingRun(trainer, recorder, log, train.Count, evaluator, splits, EvalSetting.ParseList(recipe.EvalSettings),
            new EvalSchedule(recipe.EvalEvery, recipe.EvalEachEpoch, AtStart: !resume))
        {
            MemoryMetrics = activations => MemoryBreakdown.Measure(models, optimizers, activations, kvCaches).ToMetrics(),
        };
        var judge = verdict.Function as LlmJudge;
        long judged = 0, judgeFailed = 0;
        void Checkpoint(StepMetrics m)
        {
            // A judge that did not answer scored its verdicts 0: past the recipe's share, stop before the step is saved.
            if (judge?.Statistics is { } s)
            {
                long requests = s.Requests - judged, failures = s.ParseFailures + s.EndpointFailures - judgeFailed;
                (judged, judgeFailed) = (s.Requests, s.ParseFailures + s.EndpointFailures);
                if (requests > 0 && failures > recipe.MaxJudgeFailures * requests)
                    throw new RunStoppedException($"step {m.Step}: the judge failed {failures} of {requests} verdicts, more than reward.max_judge_failures " +
                        $"({recipe.MaxJudgeFailures:P0}); stopped rather than learn from their zeros. {s}. When the judge answers again, --resume continues from the last checkpoint");
            }
            if (recipe.CheckpointEvery > 0 && (m.Step % recipe.CheckpointEvery == 0 || m.Step == recipe.Steps))
                TrainingCheckpoint.Save(runDir, saved, optimizer, trainer.State, recipe.KeepCheckpoints, trainer.CheckpointParts);
        }
        new ConsoleView($"{rl.Objective.Name()} · {recipe.Name}").Run(recipe.Steps, view => run.Run(recipe.Steps, view, Checkpoint));
        if (!Ril.Tensors.Distributed.World.IsRoot) return 0;   // data-parallel: rank 0 alone saves; every rank holds the same weights

        if (trainer is RilTrainer { Discriminator.Discriminator: { } d })
        {
            if (d.Adapters is { } dAdapters)
                PeftAdapter.Save(Path.Combine(runDir, "discriminator-adapter"), dAdapters, PeftAdapter.SequenceClassification, recipe.Model, [d.Model.Score]);
            else d.Save(Path.Combine(runDir, "discriminator"));
        }
        string modelDir;
        if (adapters is not null)
            PeftAdapter.Save(modelDir = Path.Combine(runDir, "adapter"), adapters, PeftAdapter.CausalLm, baseModel: recipe.Model);
        else
        {
            policy.Save(modelDir = Path.Combine(runDir, "model"));
        }
        Console.WriteLine($"done: {trainer.Step} steps; metrics {log.MetricsPath}; {(adapters is null ? "model" : "LoRA adapter (PEFT layout)")} {modelDir}; report: ril report {runDir} --out {Path.Combine(runDir, "report.html")}");
        return 0;
    }

    /// <summary>
    /// A resume continues the run it finds: a recipe that differs from the run's config.json in anything but the step
    /// count is refused, naming the keys, unless <paramref name="overrideRecipe"/>; every change is recorded in
    /// overrides.jsonl and config.json stays as the run began.
    /// </summary>
    static void CheckResumedRecipe(string runDir, Recipe recipe, bool overrideRecipe)
    {
        var path = Path.Combine(runDir, "config.json");
        if (!File.Exists(path)) throw new ArgumentException($"{runDir}: no config.json, so this is not a run `ril train` can resume");
        JsonObject saved;
        try { saved = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {e.Message}", e); }
        var changes = Recipe.Differences(saved, recipe.ToJson(), new Recipe().ToJson());   // keys newer than the run count as their defaults
        var refused = changes.Where(c => c.Key != "trainer.steps").ToList();
        if (refused.Count > 0 && !overrideRecipe)
            throw new ArgumentException($"{path}: --resume with a recipe that differs from the run's in " +
                string.Join(", ", refused.Select(c => $"{c.Key} ({c.Was} → {c.Now})")) +
                "; resume with the run's own recipe, or pass --override-recipe to continue with these changes");
        if (changes.Count == 0 || !Ril.Tensors.Distributed.World.IsRoot) return;
        var record = new JsonObject { ["time"] = DateTimeOffset.UtcNow.ToString("O"), ["changes"] = new JsonObject(changes.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)new JsonObject { ["was"] = JsonNode.Parse(c.Was), ["now"] = JsonNode.Parse(c.Now) }))) };
        File.AppendAllText(Path.Combine(runDir, "overrides.jsonl"), record.ToJsonString() + "\n");
    }

    /// <summary>The RL objectives' rewards: the answer reward (inside the recorder) and the optional format reward.</summary>
    static List<(IRewardFunction, float)> RewardsOf(Recipe recipe, IRewardFunction answer)
    {
        var parts = new List<(IRewardFunction, float)> { (answer, recipe.AnswerWeight) };
        if (recipe.FormatWeight != 0) parts.Add((new FormatReward(), recipe.FormatWeight));
        return parts;
    }

    /// <summary>
    /// The RIL loop of a recipe: teacher slots from the cache, the discriminator (pre-trained by `ril disc pretrain`, or
    /// started from the student when ril.discriminator_init is not set) with its own optimizer, similarity + answer reward.
    /// </summary>
    static RilTrainer RilTrainerOf(Recipe recipe, ChatModel policy, ChatModel? reference, DataFlow flow, IRewardFunction answer, PolicyUpdater updater)
    {
        if (recipe.FormatWeight != 0) throw new RecipeException("reward.format_weight: RIL's reward is similarity + answer; set the format weight to 0");
        var rl = recipe.Rl;
        var ril = recipe.Ril;
        var cache = TeacherCache.Load(recipe.TeacherCache!);
        var slots = new TeacherSlots(cache, policy, rl.MaxResponseTokens, ril.TeacherSampling, ril.TeacherQuota, ril.Teachers);
        DiscriminatorTrainer? discriminator = null;
        if (ril.Discriminator != DiscriminatorMode.None)
        {
            var settings = ril.DiscriminatorSettings;
            Discriminator d;
            if (recipe.DiscriminatorInit is { } dir) d = Discriminator.Load(dir, policy);
            else if (recipe.Lora is { } lora)   // D shares the student's frozen base and trains its own adapters and head
                d = Discriminator.FromStudentWithLora(policy, lora, new Tensors.Rng(rl.Seed + 200), settings.Input,
                    settings.ResponseTokens(rl));
            else
            {
                Console.WriteLine("note: ril.discriminator_init is not set, so the discriminator starts from the student untrained (the paper pre-trains it: `ril disc pretrain`)");
                d = Discriminator.FromStudent(policy, new Tensors.Rng(rl.Seed + 200), settings.Input, settings.ResponseTokens(rl));
            }
            discriminator = new DiscriminatorTrainer(d, settings.Optimizer(d), settings);
        }
        return new RilTrainer(rl, ril, flow, policy, reference, slots, answer, discriminator, updater);
    }

    /// <summary>
    /// The recipe's lean-training switches on the policy: LoRA adapters on the decoder (its base frozen; what else trains
    /// is model.trainable's vision and projector), frozen matrices kept in bf16, per-block activation recomputation. Returns
    /// the adapters (null without LoRA) and the KL reference: with LoRA and a frozen vision side, the base itself with
    /// adapters off (no second copy); otherwise a copy of the starting weights. <paramref name="trainable"/> becomes what
    /// the optimizer steps.
    /// </summary>
    static (LoraAdapters? Adapters, ChatModel? Reference) LeanTraining(Recipe recipe, ChatModel policy, ref List<Tensor> trainable)
    {
        LoraAdapters? adapters = null;
        if (recipe.Lora is { } lora)
        {
            adapters = policy.Model.AttachLora(lora, new Tensors.Rng(recipe.Rl.Seed + 11));
            trainable = [.. trainable.Where(p => p.RequiresGrad), .. adapters.Parameters()];
        }
        policy.Model.RecomputeActivations = recipe.RecomputeActivations;
        ChatModel? reference = null;
        if (recipe.Rl.KlCoef != 0)
            reference = adapters is not null && !trainable.Except(adapters.Parameters()).Any()
                ? policy.With(policy.Model.BaseView())
                : ReferenceOf(policy.Source);
        if (recipe.FrozenBf16)
        {
            FrozenWeights.StoreInBf16(policy.Model.DecoderParameters().Where(p => !p.RequiresGrad));
            bool ownCopy = reference is not null && !ReferenceEquals(reference.Model.DecoderParameters().First(), policy.Model.DecoderParameters().First());
            if (ownCopy) FrozenWeights.StoreInBf16(reference!.Model.DecoderParameters());
        }
        return (adapters, reference);
    }

    /// <summary>The frozen reference: a second copy of the starting weights.</summary>
    static ChatModel ReferenceOf(string modelDir)
    {
        var chat = ChatModel.Load(modelDir);
        foreach (var p in chat.Model.Parameters()) p.RequiresGrad = false;
        return chat;
    }

    static IReadOnlyList<DatasetRow> Limit(List<DatasetRow> rows, int limit) => limit > 0 ? rows.Take(limit).ToList() : rows;
}

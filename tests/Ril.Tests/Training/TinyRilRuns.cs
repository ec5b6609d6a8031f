using Ril.Data;
using Ril.Data.Synth;
using Ril.Data.Teachers;
using Ril.Evaluation;
using Ril.Models;
using Ril.Models.Families.RilVlm;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// Real, tiny RIL runs on the built-in suite with scripted teachers: a small VLM (as in TinySuiteRuns) is warmed up by
/// SFT on the gold solutions; the teacher cache is written by the scripted teachers (as `ril teachers synth` does); the
/// discriminator starts from the SFT student, is pre-trained on N student and N-per-teacher responses and reported on
/// held-out questions; then the RIL loop runs. The student's style is measured with <see cref="StyleMatch"/> on
/// responses to the val questions before and after RIL (sources: each teacher's cache and the gold solutions).
/// </summary>
public static class TinyRilRuns
{
    public sealed record Options
    {
        public int TrainRows { get; init; } = 32;
        public int EvalRows { get; init; } = 8;
        public string[] Teachers { get; init; } = ["terse", "grouper"];
        public int TeacherResponses { get; init; } = 4;
        public int SftSteps { get; init; } = 60;
        /// <summary>N of discriminator pre-training: responses per question from the student and from each teacher.</summary>
        public int PretrainResponses { get; init; } = 2;
        public int PretrainEpochs { get; init; } = 2;
        public int RilSteps { get; init; } = 8;
        public int QuestionsPerStep { get; init; } = 4;
        public int GroupSize { get; init; } = 4;
        public int MaxResponseTokens { get; init; } = 48;
        public float LearningRate { get; init; } = 1e-3f;
        /// <summary>D's learning rate at the start of pre-training (it decays linearly to a tenth).</summary>
        public float DiscriminatorLearningRate { get; init; } = 1e-3f;
        /// <summary>D's constant learning rate in the RIL loop.</summary>
        public float RilDiscriminatorLearningRate { get; init; } = 1e-4f;
        public float KlCoef { get; init; } = 0.01f;
        /// <summary>Responses per val question for the style measurement (0: no style measurement).</summary>
        public int StyleSamples { get; init; } = 4;
        public RilConfig Ril { get; init; } = new();
        public int Layers { get; init; } = 1;
        public int Hidden { get; init; } = 48;
        public int SftBatch { get; init; } = 8;
        public float SftLearningRate { get; init; } = 3e-3f;
    }

    public sealed record Result(DiscriminatorPretrainResult? Pretrain, List<StepMetrics> Steps, StyleSummary? StyleBefore, StyleSummary? StyleAfter, double Seconds)
    {
        public double? Metric(int step, string name) => Steps[step].Extra!.FirstOrDefault(kv => kv.Key == name).Value;
        public double MeanMetric(IEnumerable<int> steps, string name) => steps.Select(s => Metric(s, name) ?? double.NaN).Average();
        /// <summary>Share of student responses nearest to any teacher's style.</summary>
        public static float TeacherShare(StyleSummary s, IEnumerable<string> teachers) => teachers.Sum(t => s.NearestShare[t]);
    }

    public static Result Run(string suiteDir, ulong seed, Options o, Action<string>? log = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!File.Exists(Path.Combine(suiteDir, "train.jsonl")))
            SuiteWriter.Write(suiteDir, new SuiteOptions(Seed: 1, TrainRows: o.TrainRows, ValRows: o.EvalRows, TestRows: o.EvalRows, ImageSize: 32));
        var (policy, vlm) = TinyModels.SuiteStudent(o.Hidden, o.Layers, seed);
        var model = policy.Model;
        var train = JsonlDataset.Load(Path.Combine(suiteDir, "train.jsonl"));
        var val = JsonlDataset.Load(Path.Combine(suiteDir, "val.jsonl"));
        var (cache, _) = ScriptedTeacher.WriteCache(train, o.Teachers.Select(t => ScriptedTeacher.Named(t)).ToList(), o.TeacherResponses, 1, Path.Combine(suiteDir, "teachers.jsonl"));
        var flow = new DataFlow(train, policy, seed);

        // 1. SFT warm-up on the gold solutions.
        TinyModels.WarmUpOnGold(policy, flow, train, o.SftSteps, o.SftBatch, o.SftLearningRate, seed + 100);
        log?.Invoke($"SFT done ({clock.Elapsed.TotalSeconds:F1} s)");

        // The frozen reference: a copy of the SFT student.
        ChatModel? reference = null;
        if (o.KlCoef != 0)
        {
            var copy = TinyModels.SuiteStudent(o.Hidden, o.Layers, seed).Policy;
            var weights = model.Parameters().DistinctBy(p => p.Name).ToDictionary(p => p.Name!);
            foreach (var p in copy.Parameters().DistinctBy(p => p.Name)) weights[p.Name!].Data.CopyTo(p.Data);
            reference = copy;
        }

        var config = new RlConfig
        {
            Objective = Objective.Ril, QuestionsPerStep = o.QuestionsPerStep, GroupSize = o.GroupSize, MaxResponseTokens = o.MaxResponseTokens,
            TopP = 0.95f, TopK = 50, RepetitionPenalty = 1.05f, KlCoef = o.KlCoef, LearningRate = o.LearningRate,
            MiniBatchSize = o.QuestionsPerStep * o.GroupSize * 2, MicroBatchSize = o.QuestionsPerStep * o.GroupSize, Seed = seed,
        };
        var dConfig = o.Ril.DiscriminatorSettings with { LearningRate = o.RilDiscriminatorLearningRate };   // constant during RIL
        var ril = o.Ril with { DiscriminatorSettings = dConfig, Teachers = o.Teachers };

        // Style before RIL, on the val questions: the share of sampled responses nearest to each source's style.
        var valQuestions = val.Select(flow.Render).ToList();
        var sources = o.Teachers.ToDictionary(t => t, t => (IReadOnlyList<string>)train.SelectMany(r => cache.Get(r.Id, t)).Select(r => r.Response).ToList());
        sources["gold"] = train.Select(r => r.Solution!).ToList();
        var style = new StyleMatch(sources);
        StyleSummary? Style() => o.StyleSamples == 0 ? null
            : style.Summarise(new ResponseCollector(policy, config with { GroupSize = o.StyleSamples }).Collect(valQuestions, seed + 500).Select(r => r.Text).ToList());
        var before = Style();
        if (before is not null) log?.Invoke($"style before: {before}");

        // 2. Discriminator from the student, pre-trained on N student and N-per-teacher responses.
        DiscriminatorTrainer? dTrainer = null;
        DiscriminatorPretrainResult? pretrain = null;
        if (ril.Discriminator != DiscriminatorMode.None)
        {
            var options = new DiscriminatorPretrainOptions
            {
                Responses = o.PretrainResponses, Epochs = o.PretrainEpochs, BatchSize = 16, LearningRate = o.DiscriminatorLearningRate,
                FinalLearningRate = o.DiscriminatorLearningRate / 10, HeldOutShare = 0.25f,
            };
            (dTrainer, pretrain) = DiscriminatorTrainer.PretrainFromStudent(policy, train.Select(flow.Render).ToList(), config, cache, dConfig, options, o.Teachers, seed, log);
            log?.Invoke($"D pre-trained ({clock.Elapsed.TotalSeconds:F1} s): held-out accuracy {pretrain.Before.Accuracy:F3} → {pretrain.After.Accuracy:F3}, AUC {pretrain.Before.Auc:F3} → {pretrain.After.Auc:F3}");
        }

        // 3. The RIL loop.
        var slots = new TeacherSlots(cache, policy, o.MaxResponseTokens, ril.TeacherSampling, ril.TeacherQuota, ril.Teachers);
        var trainer = new RilTrainer(config, ril, flow, policy, reference, slots, new AnswerReward(), dTrainer,
            new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate, 0f), config));
        var steps = new List<StepMetrics>();
        for (int i = 0; i < o.RilSteps; i++)
        {
            var m = trainer.RunStep();
            steps.Add(m);
            string Get(string name) => m.Extra!.FirstOrDefault(kv => kv.Key == name).Value is { } v ? v.ToString("F2") : "-";
            log?.Invoke($"step {m.Step}: reward {m.Reward:F2} sim student {Get("ril/similarity_student")} teacher {Get("ril/similarity_teacher")} " +
                        $"answer student {Get("ril/answer_student")} D acc s/t {Get("disc/accuracy_student")}/{Get("disc/accuracy_teacher")} score s/t {Get("disc/score_student")}/{Get("disc/score_teacher")} dloss {Get("disc/loss")} match {Get("ril/student_matches_teacher")} len {m.ResponseLength:F0} tlogp {Get("ril/teacher_token_logprob")} ent {m.Entropy:F2} kl {m.Update.Kl:F3}");
        }
        var after = Style();
        if (after is not null) log?.Invoke($"style after: {after}");
        return new Result(pretrain, steps, before, after, clock.Elapsed.TotalSeconds);
    }
}

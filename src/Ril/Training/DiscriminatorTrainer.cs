using Ril.Data;
using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>
/// The discriminator's own settings: its optimizer (AdamW), its input, and µ. The paper uses lr 1e-6 (constant in the RIL
/// loop; 1e-5 → 1e-6 linearly in pre-training) for a 7B model; a tiny model needs a far larger rate, hence the setting.
/// </summary>
public sealed record DiscriminatorConfig
{
    public float LearningRate { get; init; } = 1e-4f;
    public float WeightDecay { get; init; }
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float AdamEps { get; init; } = 1e-8f;
    /// <summary>Global gradient-norm clip; 0 measures without clipping.</summary>
    public float GradClip { get; init; } = 1f;
    /// <summary>Rows per forward/backward (gradients accumulate over a step's micro-batches).</summary>
    public int MicroBatchSize { get; init; } = 16;
    /// <summary>µ: optimizer steps on each RIL batch's 2G responses per question (Algorithm 2, step 4; the paper's µ = 1).</summary>
    public int Updates { get; init; } = 1;
    public DiscriminatorInput Input { get; init; } = DiscriminatorInput.Response;
    /// <summary>The most response tokens D reads; 0 means the rollout limit L.</summary>
    public int MaxResponseTokens { get; init; }
    /// <summary>The prompt D's rows share computed once per forward (`discriminator.share_prefix`; <see cref="Discriminator.SharePrefix"/>).</summary>
    public bool SharePrefix { get; init; }

    public void Validate()
    {
        ConfigKey.Require(LearningRate > 0, "discriminator.lr", "must be positive");
        ConfigKey.Require(MicroBatchSize > 0, "discriminator.micro_batch_size", "must be positive");
        ConfigKey.Require(Updates >= 0, "discriminator.updates", "must be ≥ 0");
        ConfigKey.Require(MaxResponseTokens >= 0, "discriminator.max_response_tokens", "must be ≥ 0");
    }

    /// <summary>The response tokens D reads: <see cref="MaxResponseTokens"/>, or the rollouts' limit L when that is 0.</summary>
    public int ResponseTokens(RlConfig rollout) => MaxResponseTokens == 0 ? rollout.MaxResponseTokens : MaxResponseTokens;

    public AdamW Optimizer(Discriminator d) => new(d.Parameters().ToList(), LearningRate, WeightDecay, Beta1, Beta2, AdamEps);
}

/// <summary>How well D separates student from teacher responses: overall, and for each teacher against the students.</summary>
/// <param name="Accuracy">Share of examples on the right side of 0.5 (student D ≥ 0.5, teacher D &lt; 0.5).</param>
/// <param name="Auc">Probability that a random student response scores above a random teacher response (ties count ½).</param>
public sealed record DiscriminatorReport(int Count, float Accuracy, float Auc, float StudentAccuracy, float TeacherAccuracy,
    float StudentScore, float TeacherScore, IReadOnlyDictionary<string, TeacherDiscrimination> PerTeacher)
{
    public System.Text.Json.Nodes.JsonObject ToJson()
    {
        static System.Text.Json.Nodes.JsonNode? F(float v) => float.IsFinite(v) ? v : null;
        var perTeacher = new System.Text.Json.Nodes.JsonObject();
        foreach (var (name, t) in PerTeacher)
            perTeacher[name] = new System.Text.Json.Nodes.JsonObject { ["count"] = t.Count, ["accuracy"] = F(t.Accuracy), ["auc"] = F(t.Auc), ["score"] = F(t.Score) };
        return new()
        {
            ["count"] = Count, ["accuracy"] = F(Accuracy), ["auc"] = F(Auc), ["student_accuracy"] = F(StudentAccuracy),
            ["teacher_accuracy"] = F(TeacherAccuracy), ["student_score"] = F(StudentScore), ["teacher_score"] = F(TeacherScore), ["per_teacher"] = perTeacher,
        };
    }
}

/// <summary>D against one teacher: accuracy on its responses, AUC of students against them, its mean D.</summary>
public sealed record TeacherDiscrimination(int Count, float Accuracy, float Auc, float Score);

/// <summary>What a discriminator update did: mean BCE over its steps, and accuracy on the batch before the first step.</summary>
public sealed record DiscriminatorUpdateStats(float Loss, float AccuracyBefore, int Steps, int SkippedSteps, float GradNorm, double Seconds);

/// <summary>Settings of discriminator pre-training (docs/spec/RIL.md, stage 2; the recipe's `disc_pretrain` section).</summary>
public sealed record DiscriminatorPretrainOptions
{
    /// <summary>N: responses per training question from the student, and as many from each teacher.</summary>
    public int Responses { get; init; } = 2;
    public int Epochs { get; init; } = 2;
    /// <summary>Examples per optimizer step.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Learning rate at the start of pre-training (the paper: 1e-5 for a 7B model; a tiny model needs more).</summary>
    public float LearningRate { get; init; } = 1e-3f;
    /// <summary>Learning rate at the end of pre-training (linear decay; the paper: 1e-5 → 1e-6).</summary>
    public float FinalLearningRate { get; init; } = 1e-4f;
    /// <summary>Share of the questions held out for the accuracy and AUC report.</summary>
    public float HeldOutShare { get; init; } = 0.25f;
    /// <summary>How many training questions to use (0: all).</summary>
    public int Questions { get; init; }
}

/// <summary>Pre-training's outcome: the held-out report before and after, and the mean loss of each epoch.</summary>
public sealed record DiscriminatorPretrainResult(DiscriminatorReport Before, DiscriminatorReport After, IReadOnlyList<float> EpochLosses, int Steps)
{
    public System.Text.Json.Nodes.JsonObject ToJson() => new()
    {
        ["held_out_before"] = Before.ToJson(), ["held_out_after"] = After.ToJson(), ["steps"] = Steps,
        ["epoch_losses"] = new System.Text.Json.Nodes.JsonArray(EpochLosses.Select(l => (System.Text.Json.Nodes.JsonNode?)l).ToArray()),
    };
}

/// <summary>
/// Trains RIL's discriminator with Eq. 1 (BCE, student = 1, teacher = 0): pre-training on cached responses
/// (docs/spec/RIL.md stage 2) and µ steps on each RIL batch (Algorithm 2, step 4). Has its own optimizer.
/// </summary>
public sealed class DiscriminatorTrainer(Discriminator discriminator, Optimizer optimizer, DiscriminatorConfig config, LrSchedule? schedule = null)
{
    /// <summary>D, laid out as <see cref="DiscriminatorConfig.SharePrefix"/> says in every forward: its steps here and the reward's scoring.</summary>
    public Discriminator Discriminator { get; } = WithLayout(discriminator, config);
    public Optimizer Optimizer { get; } = optimizer;
    public DiscriminatorConfig Config { get; } = config;

    static Discriminator WithLayout(Discriminator d, DiscriminatorConfig config)
    {
        d.SharePrefix = config.SharePrefix;
        return d;
    }

    /// <summary>
    /// One optimizer step on a batch: mean BCE over all of it, accumulated over micro-batches. A non-finite loss or
    /// gradient skips the step. Returns the loss, the batch's accuracy (before the step) and the gradient norm.
    /// </summary>
    public (float Loss, float Accuracy, float GradNorm, bool Stepped) Step(IReadOnlyList<DiscriminatorExample> batch)
    {
        // In a data-parallel run each process holds its share of the batch: the mean is over the whole of it.
        var world = Tensors.Distributed.World.Current;

        int total = (int)Tensors.Distributed.Collectives.Sum(world, batch.Count)[0];
        if (total == 0) throw new ArgumentException("DiscriminatorTrainer: an empty batch");
        double loss = 0;
        int right = 0;
        for (int start = 0; start < batch.Count; start += Config.MicroBatchSize)
        {
            using var scope = TensorScope.Begin();
            var micro = batch.Skip(start).Take(Config.MicroBatchSize).ToList();
            var labels = micro.Select(e => e.Label).ToArray();
            var scores = Discriminator.Logits(micro);
            var l = Discriminator.Loss(scores, labels, micro.Count / (float)total);   // the micro-batch's share of the batch mean
            l.Backward();
            loss += l.Item();
            var s = scores.ToArray();
            for (int i = 0; i < s.Length; i++) if ((s[i] >= 0) == (labels[i] == 1f)) right++;   // σ(s) ≥ 0.5 ⇔ s ≥ 0
        }
        Tensors.Distributed.GradientSync.AllReduceSum(Optimizer.AllParameters, world);
        var pooled = Tensors.Distributed.Collectives.Sum(world, loss, right);
        schedule?.Apply(Optimizer, Optimizer.StepCount);
        float norm = GradClip.ClipByGlobalNorm(Optimizer.AllParameters, Config.GradClip);
        bool ok = double.IsFinite(pooled[0]) && float.IsFinite(norm);
        if (ok) Optimizer.Step();
        Optimizer.ZeroGrad();
        return ((float)pooled[0], (float)(pooled[1] / total), norm, ok);
    }

    /// <summary>µ optimizer steps on the same batch (Algorithm 2, step 4).</summary>
    public DiscriminatorUpdateStats Update(IReadOnlyList<DiscriminatorExample> batch, int steps)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        double loss = 0, norm = 0;
        float before = float.NaN;
        int done = 0, skipped = 0;
        for (int k = 0; k < steps; k++)
        {
            var (l, accuracy, n, stepped) = Step(batch);
            if (k == 0) before = accuracy;
            loss += l;
            if (stepped) { done++; norm += n; } else skipped++;
        }
        return new DiscriminatorUpdateStats(steps == 0 ? float.NaN : (float)(loss / steps), before, done, skipped,
            done == 0 ? float.NaN : (float)(norm / done), sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Pre-training: <see cref="DiscriminatorPretrainOptions.Epochs"/> passes over shuffled <paramref name="train"/>
    /// examples in batches, lr decaying linearly to the final rate; the held-out report before and after.
    /// </summary>
    public DiscriminatorPretrainResult Pretrain(IReadOnlyList<DiscriminatorExample> train, IReadOnlyList<DiscriminatorExample> heldOut,
        DiscriminatorPretrainOptions options, Rng rng, Action<int, int, float>? onStep = null)
    {
        if (train.Count == 0) throw new ArgumentException("discriminator pre-training: no training examples");
        var before = Evaluate(Discriminator, heldOut);
        int perEpoch = (train.Count + options.BatchSize - 1) / options.BatchSize, total = perEpoch * options.Epochs;
        var decay = new LinearDecayLr(options.LearningRate, options.FinalLearningRate, Math.Max(1, total - 1));
        var losses = new List<float>();
        int steps = 0;
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            var order = Enumerable.Range(0, train.Count).ToArray();
            rng.Shuffle(order);
            double sum = 0;
            for (int b = 0; b < order.Length; b += options.BatchSize)
            {
                decay.Apply(Optimizer, steps);
                var batch = order[b..Math.Min(order.Length, b + options.BatchSize)].Select(i => train[i]).ToList();
                float loss = Step(batch).Loss;
                sum += loss;
                steps++;
                onStep?.Invoke(steps, total, loss);
            }
            losses.Add((float)(sum / perEpoch));
        }
        return new DiscriminatorPretrainResult(before, Evaluate(Discriminator, heldOut), losses, steps);
    }

    /// <summary>
    /// Stage 2 of RIL end to end: a discriminator from the student's weights, its examples (N student responses per
    /// question sampled with <paramref name="rollout"/>'s settings, N per teacher from the cache), pre-training, and the
    /// held-out report. <paramref name="onStep"/> sees (step, total, loss).
    /// </summary>
    public static (DiscriminatorTrainer Trainer, DiscriminatorPretrainResult Result) PretrainFromStudent(ChatModel student, IReadOnlyList<Question> questions,
        RlConfig rollout, TeacherCache teachers, DiscriminatorConfig config, DiscriminatorPretrainOptions options, IReadOnlyCollection<string>? teacherNames,
        ulong seed, Action<string>? log = null, Action<int, int, float>? onStep = null)
    {
        var d = Discriminator.FromStudent(student, new Rng(seed + 200), config.Input, config.ResponseTokens(rollout));
        var trainer = new DiscriminatorTrainer(d, config.Optimizer(d), config);
        if (options.Questions > 0) questions = questions.Take(options.Questions).ToList();
        log?.Invoke($"sampling {options.Responses} student response(s) for each of {questions.Count} questions");
        var (train, heldOut) = PretrainingExamples(questions, student, rollout, teachers, options.Responses, options.HeldOutShare, seed + 300, teacherNames);
        log?.Invoke($"{train.Count} training and {heldOut.Count} held-out examples ({train.Count(e => e.IsTeacher)} and {heldOut.Count(e => e.IsTeacher)} from teachers)");
        var result = trainer.Pretrain(train, heldOut, options, new Rng(seed + 400), onStep);
        trainer.Optimizer.LearningRate = config.LearningRate;   // RIL's constant rate from here on
        return (trainer, result);
    }

    /// <summary>Accuracy and AUC of D on labelled examples, overall and per teacher.</summary>
    public static DiscriminatorReport Evaluate(Discriminator d, IReadOnlyList<DiscriminatorExample> examples) =>
        Report(examples, d.Probabilities(examples));

    /// <summary>The report of given probabilities (D per example).</summary>
    public static DiscriminatorReport Report(IReadOnlyList<DiscriminatorExample> examples, IReadOnlyList<float> d)
    {
        var student = examples.Select((e, i) => (e, p: d[i])).Where(x => !x.e.IsTeacher).Select(x => x.p).ToList();
        var teacher = examples.Select((e, i) => (e, p: d[i])).Where(x => x.e.IsTeacher).ToList();
        var perTeacher = teacher.GroupBy(x => x.e.Source).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g =>
        {
            var p = g.Select(x => x.p).ToList();
            return new TeacherDiscrimination(p.Count, p.Count(v => v < 0.5f) / (float)p.Count, Auc(student, p), p.Average());
        });
        int right = student.Count(v => v >= 0.5f) + teacher.Count(x => x.p < 0.5f);
        return new DiscriminatorReport(examples.Count, examples.Count == 0 ? float.NaN : right / (float)examples.Count,
            Auc(student, teacher.Select(x => x.p).ToList()),
            student.Count == 0 ? float.NaN : student.Count(v => v >= 0.5f) / (float)student.Count,
            teacher.Count == 0 ? float.NaN : teacher.Count(x => x.p < 0.5f) / (float)teacher.Count,
            student.Count == 0 ? float.NaN : student.Average(), teacher.Count == 0 ? float.NaN : teacher.Average(x => x.p), perTeacher);
    }

    /// <summary>Mann–Whitney AUC: P(positive &gt; negative) + ½·P(tie); NaN when either side is empty.</summary>
    public static float Auc(IReadOnlyList<float> positives, IReadOnlyList<float> negatives)
    {
        if (positives.Count == 0 || negatives.Count == 0) return float.NaN;
        var all = positives.Select(p => (v: p, pos: true)).Concat(negatives.Select(n => (v: n, pos: false))).OrderBy(x => x.v).ToList();
        double rankSum = 0;
        for (int i = 0; i < all.Count;)
        {
            int j = i;
            while (j < all.Count && all[j].v == all[i].v) j++;
            double rank = (i + 1 + j) / 2.0;                                   // mean 1-based rank of the tied run
            for (int k = i; k < j; k++) if (all[k].pos) rankSum += rank;
            i = j;
        }
        double u = rankSum - positives.Count * (positives.Count + 1) / 2.0;
        return (float)(u / ((double)positives.Count * negatives.Count));
    }

    /// <summary>
    /// Pre-training data (docs/spec/RIL.md stage 2): <paramref name="perSource"/> student responses per question sampled
    /// with the student's rollout settings, and as many per teacher from the cache (of the named teachers, or all);
    /// questions split into train and held-out by a seeded shuffle.
    /// </summary>
    public static (List<DiscriminatorExample> Train, List<DiscriminatorExample> HeldOut) PretrainingExamples(
        IReadOnlyList<Question> questions, ChatModel student, RlConfig rollout, TeacherCache teachers, int perSource, float heldOutShare, ulong seed,
        IReadOnlyCollection<string>? teacherNames = null, int questionsPerBatch = 8)
    {
        if (perSource < 1) throw new ArgumentException("discriminator pre-training: at least one response per question and source");
        teachers = teachers.Only(teacherNames);
        var collector = new ResponseCollector(student, rollout with { GroupSize = perSource });
        var order = Enumerable.Range(0, questions.Count).ToArray();
        new Rng(seed).Shuffle(order);
        var heldOut = order.Take((int)Math.Round(heldOutShare * questions.Count)).ToHashSet();
        var train = new List<DiscriminatorExample>();
        var held = new List<DiscriminatorExample>();
        for (int start = 0; start < questions.Count; start += questionsPerBatch)
        {
            var batch = questions.Skip(start).Take(questionsPerBatch).ToList();
            var rollouts = collector.Collect(batch, seed + 7919UL * (ulong)(start + 1));
            for (int q = 0; q < batch.Count; q++)
            {
                var target = heldOut.Contains(start + q) ? held : train;
                var row = batch[q].Row;
                target.AddRange(rollouts.Where(r => r.Question == q).Select(r => new DiscriminatorExample(row.Question, r.Text, Rollout.Student)));
                foreach (var teacher in teachers.TeachersOf(row.Id))
                {
                    var draw = teachers.Sample(row.Id, perSource, TeacherSampling.FixedQuota, new Random(Data.Synth.StableSeed.Mix((long)seed, start + q)),
                        new Dictionary<string, int> { [teacher] = perSource });
                    target.AddRange(draw.Select(t => new DiscriminatorExample(row.Question, t.Response, t.Teacher)));
                }
            }
        }
        return (train, held);
    }
}

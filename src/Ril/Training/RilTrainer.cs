using Ril.Data;
using Ril.Models.Generation;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Memory;

namespace Ril.Training;

/// <summary>
/// The RIL loop (spec/RIL.md, Algorithm 2), per batch of questions:
/// 1. data flow; 2. G student responses from π_old; 3. G teacher responses from the cache — the group is 2G;
/// 4. µ discriminator updates on those 2G (student = 1, teacher = 0); 5. every response scored by the updated D
/// (similarity) and the answer reward; 6. advantages R − mean over the 2G and the `ril` policy loss.
/// Teacher responses enter the trajectory like student ones (their old log-probs from π_old). The ablations are
/// switches of <see cref="RilConfig"/>: no D (= Dr.GRPO when teachers are out of the group), a frozen D, the
/// teachers used, the similarity reward's form, µ, β, the answer reward (judge or verifier), teachers in or out of the group.
/// </summary>
public sealed class RilTrainer : IStepTrainer
{
    public RlConfig Config { get; }
    public RilConfig Ril { get; }
    public DataFlow Data { get; }
    public ResponseCollector Collector { get; }
    public TeacherSlots Teachers { get; }
    /// <summary>Null when <see cref="RilConfig.Discriminator"/> is None.</summary>
    public DiscriminatorTrainer? Discriminator { get; }
    public SimilarityReward? Similarity { get; }
    public TrajectoryBuilder Trajectories { get; }
    public PolicyUpdater Updater { get; }
    public int Step { get; private set; }
    readonly IRewardFunction _answer;
    readonly Rng _rng;

    /// <param name="answer">The answer reward: the verifier (<see cref="AnswerReward"/>) or the judge (<see cref="LlmJudge"/>), possibly inside a <c>RolloutRecorder</c>.</param>
    /// <param name="discriminator">D with its trainer; required unless the mode is None. A frozen D is never stepped.</param>
    public RilTrainer(RlConfig config, RilConfig ril, DataFlow data, Policy policy, Policy? reference, TeacherSlots teachers,
        IRewardFunction answer, DiscriminatorTrainer? discriminator, PolicyUpdater updater)
    {
        config.Validate();
        ril.Validate(config);
        if (ril.Discriminator != DiscriminatorMode.None && discriminator is null)
            throw new ArgumentException($"RIL with a {ril.Discriminator.ToString().ToLowerInvariant()} discriminator needs one");
        (Config, Ril, Data, Teachers, Updater, _answer) = (config, ril, data, teachers, updater, answer);
        Collector = new ResponseCollector(policy, config);
        var parts = new List<(IRewardFunction, float)>();
        if (ril.Discriminator != DiscriminatorMode.None)
        {
            Discriminator = discriminator;
            Similarity = new SimilarityReward(discriminator!.Discriminator, ril.Similarity);
            parts.Add((Similarity, ril.SimilarityWeight));
        }
        parts.Add((answer, ril.AnswerWeight));
        Trajectories = new TrajectoryBuilder(policy, reference, new RewardSet(parts), config);
        _rng = new Rng(config.Seed);
    }

    /// <summary>The responses per group: 2G with the teachers in it, else G.</summary>
    public int GroupSize => Ril.TeachersInGroup ? 2 * Config.GroupSize : Config.GroupSize;

    /// <summary>Where the run stands, for a checkpoint (the teacher draws and D's updates need no state of their own).</summary>
    public TrainingState State => new(Step, Data.Epoch, Data.Position, _rng.GetState());

    /// <summary>The discriminator and its optimizer, saved in the same checkpoint as the policy (none without D).</summary>
    public IReadOnlyList<CheckpointPart> CheckpointParts => Discriminator is null ? []
        : [new CheckpointPart("discriminator", Discriminator.Discriminator.Parameters(), Discriminator.Optimizer)];

    public void Restore(TrainingState state)
    {
        Step = state.Step;
        Data.Seek(state.Epoch, state.Position);
        _rng.SetState(state.Rng);
    }

    public StepMetrics RunStep()
    {
        using var scope = TensorScope.Begin();
        int g = Config.GroupSize;
        var questions = Data.Next(Config.QuestionsPerStep);                                            // 1. data flow
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var students = Collector.Collect(questions, Config.Seed + (ulong)Step);                        // 2. G student responses from π_old
        double rolloutSeconds = sw.Elapsed.TotalSeconds;
        bool updateD = Ril.Discriminator == DiscriminatorMode.Updating && Ril.DiscriminatorSettings.Updates > 0;
        var teachers = Ril.TeachersInGroup || updateD ? Teachers.Take(questions, g, Config.Seed, Step) : [];   // 3. G teacher responses
        var all = Interleave(students, teachers, questions.Count, g);
        DiscriminatorUpdateStats? dStats = null;
        if (updateD)                                                                                    // 4. µ updates of D on the 2G
            dStats = Discriminator!.Update(all.Select(r => Example(questions, r)).ToList(), Ril.DiscriminatorSettings.Updates);
        var rollouts = Ril.TeachersInGroup ? all : students;
        var trajectory = Trajectories.Build(questions, rollouts, GroupSize);                           // 5. rewards by the updated D + answer; advantages
        var update = Updater.Update(trajectory, _rng);                                                  // 6. policy update
        Step++;
        return Metrics(trajectory, teachers, update, dStats, rolloutSeconds);
    }

    /// <summary>Per question: its G student responses, then its G teacher responses.</summary>
    static List<Rollout> Interleave(List<Rollout> students, List<Rollout> teachers, int questions, int g)
    {
        var all = new List<Rollout>(students.Count + teachers.Count);
        for (int q = 0; q < questions; q++)
        {
            all.AddRange(students.Skip(q * g).Take(g));
            all.AddRange(teachers.Skip(q * g).Take(g));
        }
        return all;
    }

    static DiscriminatorExample Example(List<Question> questions, Rollout r) => new(questions[r.Question].Row.Question, r.Text, r.Source);

    StepMetrics Metrics(Trajectory tr, List<Rollout> teacherRollouts, UpdateStats update, DiscriminatorUpdateStats? dStats, double rolloutSeconds)
    {
        var rows = Enumerable.Range(0, tr.Rollouts.Count).ToList();
        var student = rows.Where(r => !tr.Rollouts[r].IsTeacher).ToList();
        long generated = student.Sum(r => (long)tr.Rollouts[r].Tokens.Length);
        double entropy = 0, tokens = 0;
        foreach (var r in student)
            for (int t = 0; t < tr.MaxLength; t++) { entropy += tr.Mask[r * tr.MaxLength + t] * tr.Entropy[r * tr.MaxLength + t]; tokens += tr.Mask[r * tr.MaxLength + t]; }
        float Share(string finish) => student.Count(r => tr.Rollouts[r].FinishReason == finish) / (float)Math.Max(1, student.Count);
        return new StepMetrics(Step, tr.Rewards.Average(), tr.RewardsByName.ToDictionary(kv => kv.Key, kv => kv.Value.Average()),
            (float)student.Average(r => tr.Rollouts[r].Tokens.Length), Share(GeneratedSequence.Length), Share(GeneratedSequence.Stop),
            (float)(entropy / Math.Max(tokens, 1)), tr.ZeroVarianceShare, update, rolloutSeconds, tr.LogProbSeconds, tr.RewardSeconds,
            generated / Math.Max(rolloutSeconds, 1e-9), update.Tokens / Math.Max(update.Seconds, 1e-9), RilMetrics(tr, teacherRollouts, dStats));
    }

    /// <summary>
    /// RIL's own per-step metrics: D's accuracy and mean score on student and teacher responses (after its update, as the
    /// rewards saw it), similarity and answer reward for each side, the same per teacher, and the share of groups in which
    /// the student matched or beat the teacher (mean student reward ≥ mean teacher reward).
    /// </summary>
    List<KeyValuePair<string, double?>> RilMetrics(Trajectory tr, List<Rollout> teacherRollouts, DiscriminatorUpdateStats? dStats)
    {
        var list = new List<KeyValuePair<string, double?>>();
        void Add(string name, double? value) => list.Add(new(name, value is { } v && double.IsFinite(v) ? v : null));
        static double? Mean(IEnumerable<float> values) { var a = values.ToList(); return a.Count == 0 ? null : a.Average(); }

        // D per response, as the reward saw it; teacher responses outside the group are scored here only for the metrics.
        var rollouts = tr.Rollouts.ToList();
        var d = Similarity?.LastProbabilities.ToList();
        var answers = tr.RewardsByName[_answer.Name].ToList();
        var similarity = Similarity is null ? null : tr.RewardsByName[Similarity.Name].ToList();
        if (!Ril.TeachersInGroup && teacherRollouts.Count > 0 && Discriminator is not null)
        {
            var extra = Discriminator.Discriminator.Probabilities(teacherRollouts.Select(r => Example(tr.Questions, r)).ToList());
            rollouts.AddRange(teacherRollouts);
            d!.AddRange(extra);
            similarity!.AddRange(extra.Select(p => SimilarityReward.FromProbability(p, Ril.Similarity)));
            answers.AddRange(Enumerable.Repeat(float.NaN, teacherRollouts.Count));   // not scored: outside the group
        }
        var s = Enumerable.Range(0, rollouts.Count).Where(i => !rollouts[i].IsTeacher).ToList();
        var t = Enumerable.Range(0, rollouts.Count).Where(i => rollouts[i].IsTeacher).ToList();
        double? Finite(IEnumerable<float> values) => Mean(values.Where(float.IsFinite));

        if (dStats is not null)
        {
            Add("disc/loss", dStats.Loss);
            Add("disc/accuracy_before_update", dStats.AccuracyBefore);
            Add("disc/grad_norm", dStats.GradNorm);
            Add("disc/update_s", dStats.Seconds);
        }
        if (d is not null)
        {
            Add("disc/accuracy_student", Mean(s.Select(i => d[i] >= 0.5f ? 1f : 0f)));
            Add("disc/accuracy_teacher", Mean(t.Select(i => d[i] < 0.5f ? 1f : 0f)));
            Add("disc/score_student", Mean(s.Select(i => d[i])));
            Add("disc/score_teacher", Mean(t.Select(i => d[i])));
            Add("ril/similarity_student", Mean(s.Select(i => similarity![i])));
            Add("ril/similarity_teacher", Mean(t.Select(i => similarity![i])));
        }
        if (Ril.TeachersInGroup)   // how likely the teachers' text is under π_old: imitation shows as this rising
        {
            double sum = 0, count = 0;
            foreach (var i in t)
                for (int k = 0; k < tr.MaxLength; k++) { float m = tr.Mask[i * tr.MaxLength + k]; sum += m * tr.OldLogProbs[i * tr.MaxLength + k]; count += m; }
            Add("ril/teacher_token_logprob", count == 0 ? null : sum / count);
        }
        Add("ril/answer_student", Finite(s.Select(i => answers[i])));
        Add("ril/answer_teacher", Finite(t.Select(i => answers[i])));
        if (Ril.TeachersInGroup)
        {
            Add("ril/reward_student", Mean(s.Select(i => tr.Rewards[i])));
            Add("ril/reward_teacher", Mean(t.Select(i => tr.Rewards[i])));
            int groups = tr.Rollouts.Count / tr.GroupSize, matched = 0;
            for (int q = 0; q < groups; q++)
            {
                var members = Enumerable.Range(q * tr.GroupSize, tr.GroupSize).ToList();
                var ms = members.Where(i => !tr.Rollouts[i].IsTeacher).Select(i => tr.Rewards[i]).DefaultIfEmpty(float.NaN).Average();
                var mt = members.Where(i => tr.Rollouts[i].IsTeacher).Select(i => tr.Rewards[i]).DefaultIfEmpty(float.NaN).Average();
                if (ms >= mt) matched++;
            }
            Add("ril/student_matches_teacher", groups == 0 ? null : matched / (double)groups);
        }
        foreach (var teacher in t.GroupBy(i => rollouts[i].Source).OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            var idx = teacher.ToList();
            Add($"teacher/{teacher.Key}/count", idx.Count);
            Add($"teacher/{teacher.Key}/length", idx.Average(i => rollouts[i].Tokens.Length));
            if (d is not null)
            {
                Add($"teacher/{teacher.Key}/disc_score", Mean(idx.Select(i => d[i])));
                Add($"teacher/{teacher.Key}/disc_accuracy", Mean(idx.Select(i => d[i] < 0.5f ? 1f : 0f)));
                Add($"teacher/{teacher.Key}/similarity", Mean(idx.Select(i => similarity![i])));
            }
            Add($"teacher/{teacher.Key}/answer", Finite(idx.Select(i => answers[i])));
        }
        return list;
    }
}

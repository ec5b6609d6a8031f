using Ril.Data;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Memory;

namespace Ril.Training;

/// <summary>
/// The RIL loop (docs/spec/RIL.md, Algorithm 2), per batch of questions:
/// 1. data flow; 2. G student responses from π_old; 3. G teacher responses from the cache — the group is 2G;
/// 4. µ discriminator updates on those 2G (student = 1, teacher = 0); 5. every response scored by the updated D
/// (similarity) and the answer reward; 6. advantages R − mean over the 2G and the `ril` policy loss.
/// Teacher responses enter the trajectory like student ones (their old log-probs from π_old). The ablations are
/// switches of <see cref="RilConfig"/>: no D (= Dr.GRPO when teachers are out of the group), a frozen D, the
/// teachers used, the similarity reward's form, µ, β, the answer reward (judge or verifier), teachers in or out of the group.
/// </summary>
public sealed class RilTrainer : StepTrainer
{
    public RilConfig Ril { get; }
    public ResponseCollector Collector { get; }
    public TeacherSlots Teachers { get; }
    /// <summary>Null when <see cref="RilConfig.Discriminator"/> is None.</summary>
    public DiscriminatorTrainer? Discriminator { get; }
    public SimilarityReward? Similarity { get; }
    public TrajectoryBuilder Trajectories { get; }
    public PolicyUpdater Updater { get; }
    readonly IRewardFunction _answer;

    /// <param name="answer">The answer reward: the verifier (<see cref="AnswerReward"/>) or the judge (<see cref="LlmJudge"/>), possibly inside a <c>RolloutRecorder</c>.</param>
    /// <param name="discriminator">D with its trainer; required unless the mode is None. A frozen D is never stepped.</param>
    public RilTrainer(RlConfig config, RilConfig ril, DataFlow data, ChatModel policy, ChatModel? reference, TeacherSlots teachers,
        IRewardFunction answer, DiscriminatorTrainer? discriminator, PolicyUpdater updater)
        : base(config, data)
    {
        ril.Validate(config);
        if (ril.Discriminator != DiscriminatorMode.None && discriminator is null)
            throw new ArgumentException($"RIL with a {ril.Discriminator.ToString().ToLowerInvariant()} discriminator needs one");
        (Ril, Teachers, Updater, _answer) = (ril, teachers, updater, answer);
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
    }

    /// <summary>The responses per group: 2G with the teachers in it, else G.</summary>
    public int GroupSize => Ril.TeachersInGroup ? 2 * Config.GroupSize : Config.GroupSize;

    /// <summary>The discriminator and its optimizer, saved in the same checkpoint as the policy (none without D).</summary>
    /// <remarks>The teacher draws and D's updates need no state of their own: they follow the step and the seed.</remarks>
    public override IReadOnlyList<CheckpointPart> CheckpointParts => Discriminator is null ? []
        : [new CheckpointPart("discriminator", Discriminator.Discriminator.Parameters(), Discriminator.Optimizer)];

    protected override StepMetrics TakeStep()
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
        if (Ril.StudentBaseline == StudentBaseline.Students)                                           //    (validated: teachers are in the group)
            Advantages.CentreStudentsOnTheirOwnMean(trajectory.Rewards, trajectory.Advantages, rollouts.Select(r => r.IsTeacher).ToArray(), GroupSize);
        var update = Updater.Update(trajectory, Rng);                                                  // 6. policy update
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

    /// <summary>
    /// The step's metrics over the global batch: the shared scheme (<see cref="RolloutStatistics"/>) with lengths, cut-off
    /// and end shares and entropy over the student's own responses and rewards over the whole 2G group, then RIL's.
    /// </summary>
    StepMetrics Metrics(Trajectory tr, List<Rollout> teacherRollouts, UpdateStats update, DiscriminatorUpdateStats? dStats, double rolloutSeconds)
    {
        var world = Tensors.Distributed.World.Current;
        var s = RolloutStatistics.Of(tr, world, r => !r.IsTeacher);
        return new StepMetrics(Step + 1, s.Reward, s.RewardByName, s.ResponseLength, s.LengthClipRatio, s.EndTokenShare, s.Entropy, tr.ZeroVarianceShare,
            update, rolloutSeconds, tr.LogProbSeconds, tr.RewardSeconds, s.GeneratedTokens / Math.Max(rolloutSeconds, 1e-9),
            update.Tokens / Math.Max(update.Seconds, 1e-9), RilMetrics(tr, teacherRollouts, dStats, world));
    }

    /// <summary>
    /// RIL's own per-step metrics over the global batch: D's accuracy and mean score on student and teacher responses
    /// (after its update, as the rewards saw it), similarity and answer reward for each side, the same per teacher (with
    /// each teacher's share of the teacher slots), and the share of groups in which the student matched or beat the
    /// teacher (mean student reward ≥ mean teacher reward).
    /// </summary>
    List<KeyValuePair<string, double?>> RilMetrics(Trajectory tr, List<Rollout> teacherRollouts, DiscriminatorUpdateStats? dStats, Tensors.Distributed.ICommunicator world)
    {
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

        var pool = new PooledMeans();
        if (dStats is not null)   // already over the whole batch
        {
            pool.AddGlobal("disc/loss", dStats.Loss);
            pool.AddGlobal("disc/accuracy_before_update", dStats.AccuracyBefore);
            pool.AddGlobal("disc/grad_norm", dStats.GradNorm);
            pool.AddGlobal("disc/update_s", dStats.Seconds);
        }
        if (d is not null)
        {
            pool.Add("disc/accuracy_student", s.Select(i => d[i] >= 0.5f ? 1f : 0f));
            pool.Add("disc/accuracy_teacher", t.Select(i => d[i] < 0.5f ? 1f : 0f));
            pool.Add("disc/score_student", s.Select(i => d[i]));
            pool.Add("disc/score_teacher", t.Select(i => d[i]));
            pool.Add("ril/similarity_student", s.Select(i => similarity![i]));
            pool.Add("ril/similarity_teacher", t.Select(i => similarity![i]));
        }
        if (Ril.TeachersInGroup)   // how likely the teachers' text is under π_old: imitation shows as this rising
        {
            double sum = 0, count = 0;
            foreach (var i in t)
                for (int k = 0; k < tr.MaxLength; k++) { float m = tr.Mask[i * tr.MaxLength + k]; sum += m * tr.OldLogProbs[i * tr.MaxLength + k]; count += m; }
            pool.Add("ril/teacher_token_logprob", sum, count);
        }
        pool.Add("ril/answer_student", s.Select(i => answers[i]));
        pool.Add("ril/answer_teacher", t.Select(i => answers[i]));
        if (Ril.TeachersInGroup)
        {
            pool.Add("ril/reward_student", s.Select(i => tr.Rewards[i]));
            pool.Add("ril/reward_teacher", t.Select(i => tr.Rewards[i]));
            var matched = new List<float>();
            for (int q = 0; q < tr.Rollouts.Count / tr.GroupSize; q++)
            {
                var members = Enumerable.Range(q * tr.GroupSize, tr.GroupSize).ToList();
                var ms = members.Where(i => !tr.Rollouts[i].IsTeacher).Select(i => tr.Rewards[i]).DefaultIfEmpty(float.NaN).Average();
                var mt = members.Where(i => tr.Rollouts[i].IsTeacher).Select(i => tr.Rewards[i]).DefaultIfEmpty(float.NaN).Average();
                matched.Add(ms >= mt ? 1f : 0f);
            }
            pool.Add("ril/student_matches_teacher", matched);
        }
        foreach (var teacher in Teachers.Teachers.Order(StringComparer.Ordinal))   // every teacher on every process, drawn or not
        {
            var idx = t.Where(i => rollouts[i].Source == teacher).ToList();
            pool.Add($"teacher/{teacher}/share", t.Select(i => rollouts[i].Source == teacher ? 1f : 0f));
            pool.Add($"teacher/{teacher}/length", idx.Select(i => (float)rollouts[i].Tokens.Length));
            if (d is not null)
            {
                pool.Add($"teacher/{teacher}/disc_score", idx.Select(i => d[i]));
                pool.Add($"teacher/{teacher}/disc_accuracy", idx.Select(i => d[i] < 0.5f ? 1f : 0f));
                pool.Add($"teacher/{teacher}/similarity", idx.Select(i => similarity![i]));
            }
            pool.Add($"teacher/{teacher}/answer", idx.Select(i => answers[i]));
        }
        return pool.Resolve(world);
    }
}

using Ril.Data;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Distributed;
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
        Updater.TeacherTerm = new TeacherTerm(ril.TeacherTokens, ril.ShapingGamma, ril.ChordMu);
        if (ril.Guidance == Guidance.Zppo) Zppo = new ZppoGuidance(ril.Zppo);
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

    /// <summary>The responses per group: 2G when every group takes G teacher responses, else G.</summary>
    public int GroupSize => Ril.TeachersInGroup && Ril.TeacherWhen == TeacherWhen.Always ? 2 * Config.GroupSize : Config.GroupSize;

    /// <summary>ZPPO's replay buffer and prompts; null unless ril.guidance is zppo.</summary>
    public ZppoGuidance? Zppo { get; }

    /// <summary>The discriminator and its optimizer, saved in the same checkpoint as the policy (none without D).</summary>
    /// <remarks>The teacher draws and D's updates need no state of their own: they follow the step and the seed.</remarks>
    public override IReadOnlyList<CheckpointPart> CheckpointParts => Discriminator is null ? []
        : [new CheckpointPart("discriminator", Discriminator.Discriminator.Parameters(), Discriminator.Optimizer)];

    protected override Dictionary<string, string>? ExtraState() => Zppo is null ? null : new() { ["zppo_buffer"] = Zppo.Save() };

    protected override void RestoreExtra(Dictionary<string, string>? extra)
    {
        if (Zppo is not null && extra?.GetValueOrDefault("zppo_buffer") is { } saved)
            Zppo.Restore(saved, Data.Rows.GroupBy(r => r.Id).ToDictionary(g => g.Key, g => g.First()));
    }

    protected override StepMetrics TakeStep()
    {
        using var scope = TensorScope.Begin();
        int g = Config.GroupSize;
        var questions = NextQuestions();                                                               // 1. data flow (and ZPPO's replayed questions)
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var students = Collector.Collect(questions, Config.Seed + (ulong)Step);                        // 2. G student responses from π_old
        double rolloutSeconds = sw.Elapsed.TotalSeconds;
        bool updateD = Ril.Discriminator == DiscriminatorMode.Updating && Ril.DiscriminatorSettings.Updates > 0;
        bool needTeachers = Ril.TeachersInUpdate || updateD || Zppo is not null;
        var teachers = needTeachers ? Teachers.Take(questions, g, Config.Seed, Step) : [];            // 3. G teacher responses
        DiscriminatorUpdateStats? dStats = null;
        if (updateD)                                                                                    // 4. µ updates of D on the 2G
            dStats = Discriminator!.Update(Interleave(students, teachers, questions.Count, g).Select(r => Example(questions, r)).ToList(), Ril.DiscriminatorSettings.Updates);
        var answers = Ril.TeacherWhen != TeacherWhen.Always || Zppo is not null ? AnswerScores(questions, students) : null;
        var accuracy = answers is null ? null : GroupMeans(answers, g);
        var guidance = new List<KeyValuePair<string, double?>>();
        if (Zppo is not null)                                                                           //    ZPPO: BCQ and NCQ prompts, answered now
        {
            (questions, students) = Guide(questions, students, teachers, answers!, accuracy!, guidance);
            rolloutSeconds = sw.Elapsed.TotalSeconds;
        }
        var (rollouts, outside, needy) = Compose(Ril, g, questions.Count, students, teachers, accuracy);
        var trajectory = Trajectories.Build(questions, rollouts, GroupSize, outside);                  // 5. rewards by the updated D + answer; advantages
        if (Ril.StudentBaseline == StudentBaseline.Students)                                           //    (validated: every group has its teachers)
            Advantages.CentreStudentsOnTheirOwnMean(trajectory.Rewards, trajectory.Advantages, rollouts.Select(r => r.IsTeacher).ToArray(), GroupSize);
        var update = Updater.Update(trajectory, Rng);                                                  // 6. policy update
        guidance.Add(new("ril/teacher_tokens_in_loss", update.TeacherTokens));
        guidance.Add(new("ril/teacher_token_weight", update.TeacherTokens == 0 ? null : update.TeacherWeight));
        if (needy is not null) guidance.Add(new("ril/needy_group_share", needy.Average(n => n ? 1.0 : 0.0)));
        guidance.Add(new("ril/student_rollouts", students.Count));
        if (teachers.Count > 0) guidance.Add(new("ril/teacher_cut_share", CutShare(teachers)));
        return Metrics(trajectory, teachers, update, dStats, rolloutSeconds, guidance);
    }

    bool _warnedCut;

    /// <summary>
    /// The share of the step's teacher responses cut at rollout.max_response_tokens. A cut response loses its final answer
    /// (its answer reward drops to 0 and RIL imitates an unfinished text), so the first step where most are cut says so.
    /// </summary>
    double CutShare(List<Rollout> teachers)
    {
        double share = teachers.Count(r => r.FinishReason == GeneratedSequence.Length) / (double)teachers.Count;
        if (share > 0.5 && !_warnedCut && World.IsRoot)
        {
            _warnedCut = true;
            Console.Error.WriteLine($"warning: {share:P0} of this step's teacher responses are longer than rollout.max_response_tokens = " +
                $"{Config.MaxResponseTokens} and were cut, losing their final answers; raise it above the teachers' lengths");
        }
        return share;
    }

    /// <summary>
    /// The step's questions: fresh ones from the data flow, and with ZPPO the buffered hard questions replayed after them
    /// in the global batch. Every process keeps the whole buffer, so each takes its share of the replayed ones as of the fresh.
    /// </summary>
    List<Question> NextQuestions()
    {
        if (Zppo is null) return Data.Next(Config.QuestionsPerStep);
        var replay = Zppo.TakeReplay();
        int freshCount = Config.QuestionsPerStep - replay.Count;
        var fresh = Data.Next(freshCount);
        var (start, share) = World.Current.ShareOf(replay.Count);
        return [.. fresh, .. replay.Skip(start).Take(share).Select((row, i) => Data.Render(row) with { BatchIndex = freshCount + start + i })];
    }

    /// <summary>The answer reward of every student response (the recorder's inner function, so the step's record counts each once).</summary>
    float[] AnswerScores(List<Question> questions, List<Rollout> students)
    {
        var answer = _answer is Evaluation.RolloutRecorder recorder ? recorder.Inner : _answer;
        return answer.ScoreAsync(TrajectoryBuilder.RewardInputs(questions, students)).GetAwaiter().GetResult();
    }

    /// <summary>Per group of <paramref name="g"/>: the share of answers scored correct (≥ 0.5).</summary>
    static float[] GroupMeans(float[] scores, int g) =>
        Enumerable.Range(0, scores.Length / g).Select(q => scores.Skip(q * g).Take(g).Count(s => s >= 0.5f) / (float)g).ToArray();

    /// <summary>
    /// The update's rows from the step's responses, by ril.teacher_tokens and ril.teacher_when (docs/spec/RIL.md): groups of
    /// G student + G teacher responses (published, shaped; always); groups of G in which k teacher responses replace k student
    /// ones where the students fail (all_fail, below); the student's groups followed by teacher rows outside any group (chord);
    /// the student's groups alone (none). Returns the rows, how many trail outside the groups, and which groups were needy.
    /// </summary>
    internal static (List<Rollout> Rows, int Outside, bool[]? Needy) Compose(RilConfig ril, int g, int questions, List<Rollout> students, List<Rollout> teachers, float[]? accuracy)
    {
        if (!ril.TeachersInUpdate) return (students, 0, null);
        var needy = Enumerable.Range(0, questions).Select(q => ril.TeacherWhen switch
        {
            TeacherWhen.Always => true,
            TeacherWhen.AllFail => accuracy![q] == 0,                                       // every student answer fails
            _ => accuracy![q] < ril.TeacherThreshold,
        }).ToArray();
        int k = ril.TeacherWhen == TeacherWhen.Always ? g : ril.TeacherSlots;
        if (ril.TeacherTokens == TeacherTokens.Chord)
        {
            var extra = Enumerable.Range(0, questions).Where(q => needy[q]).SelectMany(q => teachers.Skip(q * g).Take(k)).ToList();
            return ([.. students, .. extra], extra.Count, needy);
        }
        if (ril.TeacherWhen == TeacherWhen.Always) return (Interleave(students, teachers, questions, g), 0, needy);
        var rows = new List<Rollout>(students.Count);
        for (int q = 0; q < questions; q++)
        {
            var group = students.Skip(q * g).Take(g).ToList();
            if (needy[q]) group = [.. group.Take(g - k), .. teachers.Skip(q * g).Take(k)];   // AMPO: k teacher responses replace k failed student ones
            rows.AddRange(group);
        }
        return (rows, 0, needy);
    }

    /// <summary>One question of a step as ZPPO's buffer sees it: its index in the global batch, its id and its student accuracy.</summary>
    sealed record ZppoObservation(int Index, string Id, float Accuracy);

    Dictionary<string, DatasetRow>? _rowsById;

    /// <summary>
    /// ZPPO for one step: updates the replay buffer with the step's accuracies over the global batch (in batch order, so
    /// that every process's copy of the buffer changes alike), then for up to <see cref="ZppoConfig.HardPerStep"/> hard
    /// questions of the global batch (the least accurate first, then by batch index) the process holding each renders a
    /// BCQ prompt (when a teacher response is correct) and an NCQ prompt, and collects G student responses to each.
    /// Returns the step's questions and student responses with those appended.
    /// </summary>
    (List<Question>, List<Rollout>) Guide(List<Question> questions, List<Rollout> students, List<Rollout> teachers, float[] answers, float[] accuracy,
        List<KeyValuePair<string, double?>> metrics)
    {
        int g = Config.GroupSize;
        var world = World.Current;
        var mine = questions.Select((q, i) => new ZppoObservation(q.BatchIndex ?? i, q.Row.Id, accuracy[i])).ToList();
        var all = (world.Size == 1 ? mine : world.AllGatherJson(mine).SelectMany(part => part).ToList()).OrderBy(o => o.Index).ToList();
        _rowsById ??= Data.Rows.GroupBy(r => r.Id).ToDictionary(group => group.Key, group => group.First());
        var changes = Zppo!.Observe(all.Select(o => _rowsById[o.Id]).ToList(), all.Select(o => o.Accuracy).ToList());
        var hard = all.Where(o => o.Accuracy < Zppo.Config.Threshold).OrderBy(o => o.Accuracy).ThenBy(o => o.Index).Take(Zppo.Config.HardPerStep).ToList();
        var local = Enumerable.Range(0, questions.Count).ToDictionary(i => mine[i].Index);
        float[] teacherAnswers = hard.Any(o => local.ContainsKey(o.Index)) ? AnswerScores(questions, teachers) : [];
        // Each hard question's prompts take batch indices after the step's questions by its rank among the hard ones, so
        // their samples are the same whichever process holds them.
        var prompts = new List<(int Question, string Kind, string Text, int Index)>();
        for (int h = 0; h < hard.Count; h++)
        {
            if (!local.TryGetValue(hard[h].Index, out int q)) continue;
            var row = questions[q].Row;
            var wrong = Enumerable.Range(q * g, g).Where(i => answers[i] < 0.5f).Select(i => students[i].Text).Distinct().ToList();
            int correct = Enumerable.Range(q * g, g).FirstOrDefault(i => teacherAnswers[i] >= 0.5f, -1);
            bool correctFirst = new Random(global::Ril.Data.Synth.StableSeed.Mix((long)Config.Seed, Step, 7919, hard[h].Index)).Next(2) == 0;
            int index = Config.QuestionsPerStep + 2 * h;
            if (correct >= 0 && wrong.Count > 0) prompts.Add((q, "bcq", ZppoGuidance.Bcq(row.Question, teachers[correct].Text, wrong[0], correctFirst), index));
            if (wrong.Count > 0) prompts.Add((q, "ncq", ZppoGuidance.Ncq(row.Question, wrong.Take(Zppo.Config.MaxWrongInNcq).ToList()), index + 1));
        }
        var extra = prompts.Select(p => Data.Render(questions[p.Question].Row with { Question = p.Text }) with { BatchIndex = p.Index }).ToList();
        List<Rollout> more = extra.Count == 0 ? [] : Collector.Collect(extra, Config.Seed + (ulong)Step);
        float[] moreAnswers = extra.Count == 0 ? [] : GroupMeans(AnswerScores(extra, more), g);
        var sums = new double[4];   // per kind (bcq, ncq): prompts, and the sum of their groups' accuracies, over the processes
        for (int i = 0; i < prompts.Count; i++) { int at = prompts[i].Kind == "bcq" ? 0 : 2; sums[at]++; sums[at + 1] += moreAnswers[i]; }
        world.AllReduceSum(sums);
        foreach (var (kind, at) in new[] { ("bcq", 0), ("ncq", 2) })
        {
            metrics.Add(new($"zppo/{kind}_prompts", sums[at]));
            metrics.Add(new($"zppo/{kind}_accuracy", sums[at] == 0 ? null : sums[at + 1] / sums[at]));
        }
        metrics.Add(new("zppo/hard_questions", all.Count(o => o.Accuracy < Zppo.Config.Threshold)));
        metrics.Add(new("zppo/buffer_size", Zppo.Buffer.Count));
        metrics.Add(new("zppo/admitted", changes.Admitted));
        metrics.Add(new("zppo/graduated", changes.Graduated));
        metrics.Add(new("zppo/evicted", changes.Evicted));
        return ([.. questions, .. extra], [.. students, .. more.Select(r => r with { Question = r.Question + questions.Count })]);
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
    StepMetrics Metrics(Trajectory tr, List<Rollout> teacherRollouts, UpdateStats update, DiscriminatorUpdateStats? dStats, double rolloutSeconds,
        List<KeyValuePair<string, double?>> guidance)
    {
        var world = World.Current;
        var s = RolloutStatistics.Of(tr, world, r => !r.IsTeacher);
        return new StepMetrics(Step + 1, s.Reward, s.RewardByName, s.ResponseLength, s.LengthClipRatio, s.EndTokenShare, s.Entropy, tr.ZeroVarianceShare,
            update, rolloutSeconds, tr.LogProbSeconds, tr.RewardSeconds, s.GeneratedTokens / Math.Max(rolloutSeconds, 1e-9),
            update.Tokens / Math.Max(update.Seconds, 1e-9), [.. RilMetrics(tr, teacherRollouts, dStats, world), .. guidance]);
    }

    /// <summary>
    /// RIL's own per-step metrics over the global batch: D's accuracy and mean score on student and teacher responses
    /// (after its update, as the rewards saw it), similarity and answer reward for each side, the same per teacher (with
    /// each teacher's share of the teacher slots), and the share of groups in which the student matched or beat the
    /// teacher (mean student reward ≥ mean teacher reward).
    /// </summary>
    List<KeyValuePair<string, double?>> RilMetrics(Trajectory tr, List<Rollout> teacherRollouts, DiscriminatorUpdateStats? dStats, ICommunicator world)
    {
        // D per response, as the reward saw it; teacher responses outside the group are scored here only for the metrics.
        var rollouts = tr.Rollouts.ToList();
        var d = Similarity?.LastProbabilities.ToList();
        var answers = tr.RewardsByName[_answer.Name].ToList();
        var similarity = Similarity is null ? null : tr.RewardsByName[Similarity.Name].ToList();
        if (!Ril.TeachersInUpdate && teacherRollouts.Count > 0 && Discriminator is not null)
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
        if (Ril.TeachersInUpdate)   // how likely the teachers' text is under π_old: imitation shows as this rising
        {
            double sum = 0, count = 0;
            foreach (var i in t.Where(i => i < tr.Rollouts.Count))
                for (int k = 0; k < tr.MaxLength; k++) { float m = tr.Mask[i * tr.MaxLength + k]; sum += m * tr.OldLogProbs[i * tr.MaxLength + k]; count += m; }
            pool.Add("ril/teacher_token_logprob", sum, count);
        }
        pool.Add("ril/answer_student", s.Select(i => answers[i]));
        pool.Add("ril/answer_teacher", t.Select(i => answers[i]));
        if (Ril.TeachersInGroup && Ril.TeacherWhen == TeacherWhen.Always)
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

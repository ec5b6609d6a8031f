using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Evaluation;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// The RIL loop's parts (docs/spec/RIL.md): advantages and the `ril` loss over a group of 2G (docs/spec/LOSSES.md), the teacher-slot
/// spreading policies, and a RilTrainer step on a tiny policy with a scripted teacher cache.
/// </summary>
public class RilTests
{
    /// <summary><paramref name="n"/> questions rendered into prompts for <paramref name="policy"/>.</summary>
    static (List<DatasetRow> Rows, List<Question> Questions) Rendered(ChatModel policy, int n)
    {
        var rows = TinyModels.NumberedQuestions(n);
        var flow = new DataFlow(rows, policy, 1);
        return (rows, rows.Select(flow.Render).ToList());
    }

    /// <summary>Each question answered <paramref name="perTeacher"/> times by each teacher; a response reads "{id} {teacher} {k}".</summary>
    static TeacherCache Cache(IEnumerable<string> ids, IEnumerable<string> teachers, int perTeacher)
    {
        var cache = new TeacherCache();
        foreach (var id in ids)
            foreach (var teacher in teachers)
                for (int k = 0; k < perTeacher; k++) cache.Add(new TeacherResponse(id, teacher, $"{id} {teacher} {k}", []));
        return cache;
    }

    static Dictionary<string, int> Counts(IEnumerable<string> teachers, IEnumerable<string> of) =>
        teachers.ToDictionary(t => t, t => of.Count(s => s == t));

    // ---- (b) a group of 2G: advantages and the `ril` loss ----

    // G = 2 student + 2 teacher responses, L = 3; R = [0, 1 | 2, 2], mean 1.25 → A = [−1.25, −0.25 | 0.75, 0.75].
    static readonly float[] GroupRewards = [0f, 1f, 2f, 2f];
    static readonly float[] GroupMask = [1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1];
    const int Rows2G = 4, L = 3;

    [Fact]
    public void Advantages_over_2g_are_reward_minus_the_group_mean_without_std()
    {
        Assert.False(Objective.Ril.ScalesByStd());
        var a = Advantages.GroupRelative(GroupRewards, 2 * 2, Objective.Ril.ScalesByStd());
        Assert.Equal([-1.25f, -0.25f, 0.75f, 0.75f], a);
        // Two groups of 2G are centred separately; a teacher response below its group's mean gets a negative advantage.
        var two = Advantages.GroupRelative([0f, 1f, 2f, 2f, 1f, 1f, 0f, 2f], 4, scaleByStd: false);
        Assert.Equal([-1.25f, -0.25f, 0.75f, 0.75f, 0f, 0f, -1f, 1f], two);
    }

    [Fact]
    public void The_students_baseline_centres_student_responses_on_their_own_mean_and_leaves_the_teachers()
    {
        // Two groups of 2G = 4, students first: rewards [0, 1 | 2, 2] and [1, 0 | 0, 2].
        float[] rewards = [0f, 1f, 2f, 2f, 1f, 0f, 0f, 2f];
        bool[] teacher = [false, false, true, true, false, false, true, true];
        var a = Advantages.GroupRelative(rewards, 4, scaleByStd: false);
        Assert.Equal([-1.25f, -0.25f, 0.75f, 0.75f, 0.25f, -0.75f, -0.75f, 1.25f], a);   // the 2G means: 1.25 and 0.75
        Advantages.CentreStudentsOnTheirOwnMean(rewards, a, teacher, 4);
        Assert.Equal([-0.5f, 0.5f, 0.75f, 0.75f, 0.5f, -0.5f, -0.75f, 1.25f], a);       // the students' means: 0.5 and 0.5
        // A group without student responses is left as it was; the lengths must agree.
        float[] onlyTeachers = [1f, -1f];
        Advantages.CentreStudentsOnTheirOwnMean([2f, 0f], onlyTeachers, [true, true], 2);
        Assert.Equal([1f, -1f], onlyTeachers);
        Assert.Throws<ArgumentException>(() => Advantages.CentreStudentsOnTheirOwnMean(rewards, a, teacher, 3));
    }

    static (float Loss, float[] Grad) RilLoss(float[] logp, float[] old, float[]? reference, float beta, int accumulation = 1)
    {
        var adv = Advantages.GroupRelative(GroupRewards, Rows2G, scaleByStd: false);
        var p = Tensor.FromArray((float[])logp.Clone(), logp.Length).AsParameter("logp");
        var batch = new PolicyBatch(old, reference, GroupMask, adv, Rows2G, L, AccumulationSteps: accumulation);
        var (loss, _) = PolicyLoss.Compute(Objective.Ril, p, batch, 0.2f, 0.2f, beta);
        loss.Backward();
        return (loss.Item(), p.Grad!.ToArray());
    }

    [Fact]
    public void Ril_loss_on_policy_sums_over_tokens_and_divides_by_b_times_l()
    {
        var old = Enumerable.Repeat(-1f, 12).ToArray();
        var logp = (float[])old.Clone();
        logp[4] = logp[5] = logp[8] = -5f;                    // padding: never counts, whatever its log-prob
        var (loss, grad) = RilLoss(logp, old, null, 0f);
        // −Σ_i A_i·M_i / (B·L) with M = [3, 1, 2, 3]: −(−3.75 − 0.25 + 1.5 + 2.25) / 12 (docs/spec/LOSSES.md, `ril` = dr_grpo's aggregation)
        Assert.Equal(0.25f / 12, loss, 6);
        Assert.NotEqual(0.25f / 9, loss, 4);                   // not divided by the valid tokens Σ M = 9
        // d loss / d logp = −A_i / (B·L) on valid tokens, 0 on padding; teachers' rows like students'.
        float[] expected = [1.25f / 12, 1.25f / 12, 1.25f / 12, 0.25f / 12, 0, 0, -0.75f / 12, -0.75f / 12, 0, -0.75f / 12, -0.75f / 12, -0.75f / 12];
        for (int j = 0; j < 12; j++) Assert.Equal(expected[j], grad[j], 6);
        // With two micro-batches per optimizer step the aggregate is halved.
        Assert.Equal(0.25f / 24, RilLoss(logp, old, null, 0f, accumulation: 2).Loss, 6);
    }

    [Fact]
    public void Ril_loss_off_policy_clips_and_adds_the_k3_penalty()
    {
        var old = Enumerable.Repeat(-1f, 12).ToArray();
        var logp = (float[])old.Clone();
        logp[0] = -1f + MathF.Log(0.5f);   // row 0 (A = −1.25): ρ = 0.5 → min(−0.625, 0.8·−1.25 = −1.0) = −1.0, clipped: no gradient
        logp[3] = -1f + MathF.Log(1.1f);   // row 1 (A = −0.25): ρ = 1.1 inside [0.8, 1.2] → −0.275, gradient −ρA
        logp[6] = -1f + MathF.Log(1.5f);   // row 2 (A = 0.75): ρ = 1.5 → min(1.125, 1.2·0.75 = 0.9) = 0.9, clipped: no gradient
        var reference = (float[])logp.Clone();
        reference[10] = logp[10] + 0.5f;   // row 3: ref − logp = 0.5, k3 = e^0.5 − 0.5 − 1
        // Σ m·(−min) = (1.0 + 1.25 + 1.25) + 0.275 + (−0.9 − 0.75) + (−0.75·3) = −0.125
        var (noKl, gradNoKl) = RilLoss(logp, old, null, 0f);
        Assert.Equal(-0.125f / 12, noKl, 6);
        Assert.Equal(0f, gradNoKl[0]);
        Assert.Equal(1.1f * 0.25f / 12, gradNoKl[3], 6);
        Assert.Equal(0f, gradNoKl[6]);
        Assert.Equal(-0.75f / 12, gradNoKl[7], 6);

        const float beta = 0.1f;
        double k3 = Math.Exp(0.5) - 0.5 - 1;                   // = 0.1487213
        var (withKl, grad) = RilLoss(logp, old, reference, beta);
        Assert.Equal((-0.125 + beta * k3) / 12, withKl, 6);
        // d(β·k3)/d logp = β·(1 − e^(ref − logp))
        Assert.Equal((-0.75 + beta * (1 - Math.Exp(0.5))) / 12, grad[10], 6);
        Assert.Equal(-0.75f / 12, grad[9], 6);
    }

    /// <summary>A reward keyed on the response text.</summary>
    sealed class RewardByText(Dictionary<string, float> rewards) : IRewardFunction
    {
        public string Name => "scripted";
        public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
            Task.FromResult(batch.Select(b => rewards[b.Response]).ToArray());
    }

    [Fact]
    public void Teacher_responses_in_a_trajectory_get_advantages_like_student_ones()
    {
        var policy = TinyModels.TextPolicy(3);
        var config = new RlConfig { Objective = Objective.Ril, GroupSize = 2, MaxResponseTokens = 8, MicroBatchSize = 4, MiniBatchSize = 8 };
        var (rows, questions) = Rendered(policy, 2);
        var slots = new TeacherSlots(Cache(["q0", "q1"], ["a"], 1), policy, config.MaxResponseTokens);
        Rollout Student(int q, string text) => new(q, Rollout.Student, [.. policy.Tokenizer.Encode(text), policy.StopTokens[0]], text, GeneratedSequence.Stop);
        Rollout Teacher(int q, string text) => slots.ToRollout(q, new TeacherResponse(rows[q].Id, "a", text, []));
        var rollouts = new List<Rollout>
        {
            Student(0, "alpha"), Student(0, "beta"), Teacher(0, "gamma"), Teacher(0, "delta"),
            Student(1, "beta"), Student(1, "beta"), Teacher(1, "alpha"), Teacher(1, "gamma"),
        };
        var rewards = new Dictionary<string, float> { ["alpha"] = 0, ["beta"] = 1, ["gamma"] = 2, ["delta"] = 2 };
        var builder = new TrajectoryBuilder(policy, null, new RewardSet([(new RewardByText(rewards), 1f)]), config);
        var tr = builder.Build(questions, rollouts, groupSize: 4);
        Assert.Equal([0f, 1f, 2f, 2f, 1f, 1f, 0f, 2f], tr.Rewards);
        Assert.Equal([-1.25f, -0.25f, 0.75f, 0.75f, 0f, 0f, -1f, 1f], tr.Advantages);
        // Teacher rows have their tokens masked in (through the end token) and π_old log-probs like any other row.
        for (int r = 0; r < rollouts.Count; r++)
        {
            Assert.Equal(rollouts[r].Tokens.Length, tr.MaskedLength(r));
            for (int t = 0; t < rollouts[r].Tokens.Length; t++) Assert.True(tr.OldLogProbs[r * 8 + t] < 0, $"row {r} token {t}");
        }
        Assert.Equal(Enumerable.Range(0, 8), tr.TrainRows);
    }

    // ---- (c) teacher slots ----

    [Fact]
    public void Round_robin_spreads_a_group_within_one_and_rotates_the_extra()
    {
        foreach (var teachers in new[] { new[] { "a", "b" }, ["a", "b", "c"] })
        {
            var cache = Cache(["q"], teachers, 5);
            for (int count = 1; count <= 8; count++)
            {
                var extra = teachers.ToDictionary(t => t, _ => 0);
                for (int seed = 0; seed < 40; seed++)
                {
                    var draw = cache.Sample("q", count, TeacherSampling.RoundRobin, new Random(seed));
                    Assert.Equal(count, draw.Count);
                    var counts = Counts(teachers, draw.Select(r => r.Teacher));
                    Assert.True(counts.Values.Max() - counts.Values.Min() <= 1, $"{teachers.Length} teachers, {count} slots: {string.Join(", ", counts)}");
                    // Slots go round by round: the first round names each teacher once.
                    var firstRound = draw.Take(Math.Min(count, teachers.Length)).Select(r => r.Teacher).ToList();
                    Assert.Equal(firstRound.Count, firstRound.Distinct().Count());
                    if (count % teachers.Length != 0)
                        foreach (var t in teachers.Where(t => counts[t] > count / teachers.Length)) extra[t]++;
                }
                if (count % teachers.Length != 0)
                    Assert.All(extra, kv => Assert.True(kv.Value > 0, $"{teachers.Length} teachers, {count} slots: '{kv.Key}' never got an extra slot"));
            }
        }
    }

    [Fact]
    public void Within_a_teacher_responses_repeat_only_when_used_up()
    {
        var cache = Cache(["q"], ["a", "b"], 5);
        var draw = cache.Sample("q", 10, TeacherSampling.RoundRobin, new Random(1));
        Assert.Equal(10, draw.Select(r => r.Response).Distinct().Count());
        var quota = cache.Sample("q", 7, TeacherSampling.FixedQuota, new Random(2), new Dictionary<string, int> { ["a"] = 7, ["b"] = 0 });
        Assert.Equal(5, quota.Select(r => r.Response).Distinct().Count());
        Assert.All(quota, r => Assert.Equal("a", r.Teacher));
    }

    [Fact]
    public void Fixed_quota_gives_exactly_the_quota()
    {
        var cache = Cache(["q"], ["a", "b", "c"], 4);
        var quota = new Dictionary<string, int> { ["a"] = 3, ["b"] = 0, ["c"] = 1 };
        for (int seed = 0; seed < 10; seed++)
        {
            var draw = cache.Sample("q", 4, TeacherSampling.FixedQuota, new Random(seed), quota);
            Assert.Equal(quota, Counts(["a", "b", "c"], draw.Select(r => r.Teacher)));
        }
        Assert.Contains("add up to 4", Assert.Throws<ArgumentException>(() => cache.Sample("q", 5, TeacherSampling.FixedQuota, new Random(0), quota)).Message);
        var unknown = new Dictionary<string, int> { ["a"] = 3, ["zed"] = 1 };
        Assert.Contains("'zed'", Assert.Throws<KeyNotFoundException>(() => cache.Sample("q", 4, TeacherSampling.FixedQuota, new Random(0), unknown)).Message);
        Assert.Throws<ArgumentException>(() => cache.Sample("q", 4, TeacherSampling.FixedQuota, new Random(0)));
        Assert.Throws<ArgumentException>(() => new TeacherSlots(cache, TinyModels.TextPolicy(1), 8, TeacherSampling.FixedQuota));
    }

    [Fact]
    public void Uniform_draws_every_cached_response_about_equally()
    {
        var cache = new TeacherCache();
        for (int k = 0; k < 2; k++) cache.Add(new TeacherResponse("q", "a", $"a{k}", []));
        for (int k = 0; k < 6; k++) cache.Add(new TeacherResponse("q", "b", $"b{k}", []));
        var drawn = Enumerable.Range(0, 4000).SelectMany(seed => cache.Sample("q", 1, TeacherSampling.Uniform, new Random(seed))).ToList();
        var perResponse = drawn.GroupBy(r => r.Response).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(8, perResponse.Count);
        Assert.All(perResponse, kv => Assert.InRange(kv.Value, 400, 600));              // 500 expected each
        Assert.InRange(drawn.Count(r => r.Teacher == "a") / 4000.0, 0.2, 0.3);        // 2 of 8 responses are a's
        // A group of G drawn uniformly holds no repeat while the pool lasts.
        Assert.Equal(8, cache.Sample("q", 8, TeacherSampling.Uniform, new Random(3)).Select(r => r.Response).Distinct().Count());
    }

    [Fact]
    public void Teacher_draws_depend_only_on_seed_step_and_question()
    {
        var policy = TinyModels.TextPolicy(1);
        var (rows, questions) = Rendered(policy, 3);
        var slots = new TeacherSlots(Cache(rows.Select(r => r.Id), ["a", "b", "c"], 6), policy, 16);
        static string Key(List<Rollout> rs) => string.Join("|", rs.Select(r => $"{r.Question}:{r.Source}:{r.Text}"));

        var first = slots.Take(questions, 4, seed: 9, step: 2);
        Assert.Equal(12, first.Count);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], first.Select(r => r.Question));
        Assert.All(first, r => Assert.StartsWith($"{rows[r.Question].Id} ", r.Text));
        Assert.Equal(Key(first), Key(slots.Take(questions, 4, seed: 9, step: 2)));
        Assert.Equal(Key(first), Key(new TeacherSlots(Cache(rows.Select(r => r.Id), ["a", "b", "c"], 6), policy, 16).Take(questions, 4, seed: 9, step: 2)));
        Assert.NotEqual(Key(first), Key(slots.Take(questions, 4, seed: 9, step: 3)));
        Assert.NotEqual(Key(first), Key(slots.Take(questions, 4, seed: 10, step: 2)));
        // A question's draw does not depend on the other questions of the batch.
        Assert.Equal(Key(first.Where(r => r.Question == 0).ToList()), Key(slots.Take(questions.Take(1).ToList(), 4, seed: 9, step: 2)));

        // Across steps the extra slot (4 slots, 3 teachers) moves between teachers.
        var extra = new HashSet<string>();
        for (int step = 0; step < 30; step++)
        {
            var counts = Counts(["a", "b", "c"], slots.Take(questions.Take(1).ToList(), 4, seed: 9, step).Select(r => r.Source));
            Assert.Equal([1, 1, 2], counts.Values.Order());
            extra.Add(counts.Single(kv => kv.Value == 2).Key);
        }
        Assert.Equal(3, extra.Count);
    }

    [Fact]
    public void The_teachers_filter_keeps_only_the_named_teachers()
    {
        var policy = TinyModels.TextPolicy(1);
        var (rows, questions) = Rendered(policy, 2);
        var cache = Cache(rows.Select(r => r.Id), ["a", "b", "c"], 3);

        var one = new TeacherSlots(cache, policy, 16, teachers: ["b"]);
        Assert.Equal(["b"], one.Teachers);
        Assert.All(Enumerable.Range(0, 5).SelectMany(step => one.Take(questions, 4, 1, step)), r => Assert.Equal("b", r.Source));

        var two = new TeacherSlots(cache, policy, 16, teachers: ["c", "a"]);
        Assert.Equal(["a", "c"], two.Teachers);
        var drawn = Enumerable.Range(0, 5).SelectMany(step => two.Take(questions, 4, 1, step)).ToList();
        Assert.Equal(["a", "c"], drawn.Select(r => r.Source).Distinct().Order());
        Assert.All(drawn.GroupBy(r => r.Question), g => Assert.Equal(g.Count() / 2, g.Count(r => r.Source == "a")));

        var e = Assert.Throws<ArgumentException>(() => new TeacherSlots(cache, policy, 16, teachers: ["a", "zed"]));
        Assert.Contains("'zed'", e.Message);
        Assert.DoesNotContain("'a'", e.Message);
        Assert.Equal(["a", "b", "c"], new TeacherSlots(cache, policy, 16).Teachers);
        // The discriminator's pre-training examples take the same filter, and the same error for a name the cache lacks.
        var (train, heldOut) = DiscriminatorTrainer.PretrainingExamples(questions, policy, new RlConfig { MaxResponseTokens = 4 }, cache, 1, 0.5f, 3, ["c"]);
        Assert.Equal(["c", Rollout.Student], train.Concat(heldOut).Select(x => x.Source).Distinct().Order(StringComparer.Ordinal));
        e = Assert.Throws<ArgumentException>(() => DiscriminatorTrainer.PretrainingExamples(questions, policy, new RlConfig(), cache, 1, 0.5f, 3, ["[c]"]));
        Assert.Contains("'[c]'", e.Message);
    }

    [Fact]
    public void A_teacher_response_longer_than_l_is_cut_to_l_tokens_with_finish_reason_length()
    {
        var policy = TinyModels.TextPolicy(1);
        const string text = "Step 1: group the terms.\nStep 2: compute the sum.\nTherefore, the answer is 12.";
        var body = policy.Tokenizer.Encode(text);
        Assert.True(body.Length > 8);
        var response = new TeacherResponse("q", "steps", text, []);
        int stop = policy.StopTokens[0];

        var cut = new TeacherSlots(Cache(["q"], ["steps"], 1), policy, maxTokens: 6).ToRollout(2, response);
        Assert.Equal(body[..6], cut.Tokens);
        Assert.Equal(GeneratedSequence.Length, cut.FinishReason);
        Assert.Equal("length", cut.FinishReason);
        Assert.True(cut.Text.Length < text.Length && text.StartsWith(cut.Text), $"cut text '{cut.Text}'");
        Assert.Equal((2, "steps"), (cut.Question, cut.Source));

        // Exactly the text's tokens fit but not the end token: still cut. One more token: the whole response and its end.
        var noRoom = new TeacherSlots(Cache(["q"], ["steps"], 1), policy, body.Length).ToRollout(0, response);
        Assert.Equal(body, noRoom.Tokens);
        Assert.Equal(GeneratedSequence.Length, noRoom.FinishReason);
        var whole = new TeacherSlots(Cache(["q"], ["steps"], 1), policy, body.Length + 1).ToRollout(0, response);
        Assert.Equal([.. body, stop], whole.Tokens);
        Assert.Equal(GeneratedSequence.Stop, whole.FinishReason);
        Assert.Equal(text, whole.Text);
    }

    // ---- (f) a RIL step ----

    /// <summary>The answer reward: 1 when the response says "answer 1"; it remembers every batch it scored.</summary>
    sealed class RecordingAnswer : IRewardFunction
    {
        public List<RewardInput> Seen { get; } = [];
        public string Name => "answer";
        public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default)
        {
            Seen.AddRange(batch);
            return Task.FromResult(batch.Select(b => b.Response.Contains("answer 1") ? 1f : 0f).ToArray());
        }
    }

    const int Questions = 2, G = 2;

    static (RilTrainer Trainer, RecordingAnswer Answer, Discriminator? D) BuildRil(RilConfig ril, bool pack = false, int maxTokens = 24, int microBatch = 4,
        bool sharePrompt = false)
    {
        var policy = TinyModels.TextPolicy(5);
        var config = new RlConfig
        {
            Objective = Objective.Ril, QuestionsPerStep = Questions, GroupSize = G, MaxResponseTokens = maxTokens, KlCoef = 0.01f,
            LearningRate = 1e-3f, MiniBatchSize = 8, MicroBatchSize = microBatch, Seed = 7, Pack = pack, SharePrompt = sharePrompt,
        };
        var rows = TinyModels.NumberedQuestions(4);
        var cache = new TeacherCache();
        foreach (var row in rows)
            foreach (var teacher in new[] { "steps", "terse" })
                for (int k = 0; k < 3; k++) cache.Add(new TeacherResponse(row.Id, teacher, $"{row.Id} {teacher}: answer 1", []));
        var slots = new TeacherSlots(cache, policy, config.MaxResponseTokens, ril.TeacherSampling, ril.TeacherQuota, ril.Teachers);
        Discriminator? d = null;
        DiscriminatorTrainer? dTrainer = null;
        if (ril.Discriminator != DiscriminatorMode.None)
        {
            d = Discriminator.FromStudent(policy, new Rng(6), DiscriminatorInput.Response, config.MaxResponseTokens);
            dTrainer = new DiscriminatorTrainer(d, ril.DiscriminatorSettings.Optimizer(d), ril.DiscriminatorSettings);
        }
        var answer = new RecordingAnswer();
        var trainer = new RilTrainer(config, ril, new DataFlow(rows, policy, 3), policy, TinyModels.TextPolicy(5), slots, answer, dTrainer,
            new PolicyUpdater(policy, new AdamW(policy.Parameters().ToList(), config.LearningRate, 0f), config));
        return (trainer, answer, d);
    }

    static double? Extra(StepMetrics m, string name) => m.Extra!.Single(kv => kv.Key == name).Value;
    static bool Has(StepMetrics m, string name) => m.Extra!.Any(kv => kv.Key == name);

    [Fact]
    public void A_ril_step_scores_g_student_then_g_teacher_responses_per_question()
    {
        var (trainer, answer, d) = BuildRil(new RilConfig());
        Assert.Equal(2 * G, trainer.GroupSize);
        var before = d!.Parameters().Select(p => p.ToArray()).ToList();
        var m = trainer.RunStep();

        Assert.Equal(Questions * 2 * G, answer.Seen.Count);
        for (int q = 0; q < Questions; q++)
        {
            var group = answer.Seen.Skip(q * 2 * G).Take(2 * G).ToList();
            Assert.Single(group.Select(i => i.QuestionId).Distinct());
            Assert.All(group.Take(G), i => Assert.NotNull(i.ResponseTokens));                           // student responses first
            Assert.All(group.Skip(G), i => Assert.Null(i.ResponseTokens));                              // then the teachers'
            Assert.All(group.Skip(G), i => Assert.StartsWith($"{i.QuestionId} ", i.Response));
        }
        Assert.Equal(["answer", "similarity"], m.RewardByName.Keys.Order());
        Assert.Equal(m.RewardByName["answer"] + m.RewardByName["similarity"], m.Reward, 5);             // R = similarity + answer
        foreach (var key in new[] { "disc/loss", "disc/accuracy_before_update", "disc/accuracy_student", "disc/accuracy_teacher", "disc/score_student",
                     "disc/score_teacher", "ril/similarity_student", "ril/similarity_teacher", "ril/answer_student", "ril/answer_teacher",
                     "ril/reward_student", "ril/reward_teacher", "ril/student_matches_teacher", "ril/teacher_token_logprob" })
            Assert.True(Has(m, key), $"no metric {key}");
        Assert.True(Extra(m, "ril/answer_teacher") == 1.0, string.Join(" / ", answer.Seen.Select(i => $"[{i.ResponseTokens}] {i.Response}")));
        // Binary similarity is 1 exactly where D calls a response a teacher's: a student's similarity is its D's error rate.
        Assert.Equal(1 - Extra(m, "disc/accuracy_student")!.Value, Extra(m, "ril/similarity_student")!.Value, 5);
        Assert.Equal(Extra(m, "disc/accuracy_teacher")!.Value, Extra(m, "ril/similarity_teacher")!.Value, 5);
        Assert.Equal((Extra(m, "ril/similarity_student")!.Value + Extra(m, "ril/similarity_teacher")!.Value) / 2, m.RewardByName["similarity"], 5);
        Assert.Equal(1.0, Extra(m, "teacher/steps/share")!.Value + Extra(m, "teacher/terse/share")!.Value, 6);   // the teachers fill every slot
        Assert.True(Extra(m, "ril/teacher_token_logprob") < 0);
        // D was updated on the group before scoring it.
        Assert.Contains(d.Parameters().Select(p => p.ToArray()).Zip(before), pair => !pair.First.SequenceEqual(pair.Second));
        Assert.Equal(1, trainer.Step);
    }

    [Fact]
    public void With_teachers_out_of_the_group_only_the_g_student_responses_are_scored()
    {
        var (trainer, answer, _) = BuildRil(new RilConfig { TeacherTokens = TeacherTokens.None });
        Assert.Equal(G, trainer.GroupSize);
        var m = trainer.RunStep();
        Assert.Equal(Questions * G, answer.Seen.Count);
        Assert.All(answer.Seen, i => Assert.NotNull(i.ResponseTokens));
        // D still trains on student against teacher responses, and reports on both.
        Assert.True(Has(m, "disc/loss") && Has(m, "disc/accuracy_teacher"));
        Assert.False(Has(m, "ril/student_matches_teacher"));
        Assert.Null(Extra(m, "ril/answer_teacher"));
    }

    [Fact]
    public void Without_a_discriminator_there_is_no_similarity_reward()
    {
        var (trainer, answer, d) = BuildRil(new RilConfig { Discriminator = DiscriminatorMode.None });
        Assert.Null(d);
        Assert.Null(trainer.Similarity);
        var m = trainer.RunStep();
        Assert.Equal(["answer"], m.RewardByName.Keys);
        Assert.Equal(Questions * 2 * G, answer.Seen.Count);
        Assert.False(Has(m, "disc/accuracy_student") || Has(m, "ril/similarity_student") || Has(m, "disc/loss"));
        Assert.True(Has(m, "ril/answer_teacher"));
        Assert.Empty(trainer.CheckpointParts);
    }

    [Fact]
    public void A_frozen_discriminator_scores_but_is_never_updated()
    {
        var (trainer, _, d) = BuildRil(new RilConfig { Discriminator = DiscriminatorMode.Frozen });
        var before = d!.Parameters().Select(p => p.ToArray()).ToList();
        var m = trainer.RunStep();
        Assert.All(d.Parameters().Select(p => p.ToArray()).Zip(before), pair => Assert.Equal(pair.Second, pair.First));
        Assert.True(Has(m, "disc/accuracy_student") && Has(m, "ril/similarity_teacher"));
        Assert.False(Has(m, "disc/loss"));
        Assert.Single(trainer.CheckpointParts);
    }

    [Theory]
    [InlineData(TeacherTokens.Published)]
    [InlineData(TeacherTokens.Shaped)]
    [InlineData(TeacherTokens.Chord)]
    [InlineData(TeacherTokens.None)]
    public void Each_teacher_token_mode_runs_a_step_and_says_how_much_teacher_text_entered_the_loss(TeacherTokens mode)
    {
        var (trainer, answer, _) = BuildRil(new RilConfig { TeacherTokens = mode });
        var m = trainer.RunStep();
        Assert.True(m.Update.OptimizerSteps > 0 && float.IsFinite(m.Update.Loss));
        double tokens = Extra(m, "ril/teacher_tokens_in_loss")!.Value;
        if (mode == TeacherTokens.None) Assert.Equal(0, tokens);
        else Assert.True(tokens >= Questions * G, $"{mode}: {tokens} teacher tokens in the loss");
        var weight = Extra(m, "ril/teacher_token_weight");
        if (mode == TeacherTokens.None) Assert.Null(weight);
        else Assert.True(weight > 0, $"{mode}: teacher weight {weight}");
        // Published and shaped teachers are group members (2G); chord's join the update outside the groups; every one is scored.
        Assert.Equal(mode is TeacherTokens.Published or TeacherTokens.Shaped ? 2 * G : G, trainer.GroupSize);
        Assert.Equal(mode == TeacherTokens.None ? Questions * G : Questions * 2 * G, answer.Seen.Count);
    }

    [Fact]
    public void Teachers_on_demand_replace_student_slots_only_in_failing_groups()
    {
        // The tiny policy never writes "answer 1": every group fails, so each gets k = 1 teacher response in place of a student's.
        var (trainer, answer, _) = BuildRil(new RilConfig { TeacherTokens = TeacherTokens.Shaped, TeacherWhen = TeacherWhen.AllFail, TeacherSlots = 1 });
        Assert.Equal(G, trainer.GroupSize);
        var m = trainer.RunStep();
        Assert.Equal(1.0, Extra(m, "ril/needy_group_share"));
        var scored = answer.Seen.Skip(Questions * G).ToList();            // after the decision's own scoring: the trajectory's
        Assert.Equal(Questions * G, scored.Count);
        Assert.Equal(Questions, scored.Count(i => i.ResponseTokens is null));   // one teacher row per group
    }

    [Fact]
    public void Zppo_adds_bcq_and_ncq_groups_for_hard_questions_and_replays_them_after_a_resume()
    {
        var ril = new RilConfig
        {
            TeacherTokens = TeacherTokens.None, Guidance = Guidance.Zppo,
            Zppo = new ZppoConfig { ReplayPerStep = 1, HardPerStep = 1, BufferCapacity = 4 },
        };
        var (trainer, answer, _) = BuildRil(ril);
        var m = trainer.RunStep();
        Assert.Equal(Questions, Extra(m, "zppo/admitted"));                // every question fails: both admitted
        Assert.Equal(1.0, Extra(m, "zppo/bcq_prompts"));                   // the teachers' "answer 1" is correct
        Assert.Equal(1.0, Extra(m, "zppo/ncq_prompts"));
        Assert.Equal((Questions + 2) * G, Extra(m, "ril/student_rollouts"));
        var bcq = answer.Seen.Where(i => i.Question.Contains("Candidate 1:")).ToList();
        Assert.NotEmpty(bcq);
        Assert.All(bcq, i => Assert.Contains("answer 1", i.Question));      // the correct candidate is in the prompt, not in the gradient
        Assert.Equal(0, Extra(m, "ril/teacher_tokens_in_loss"));

        var state = trainer.State;
        Assert.NotNull(state.Extra);
        var (resumed, _, _) = BuildRil(ril);
        resumed.Restore(state);
        Assert.Equal(trainer.Zppo!.Buffer.Select(r => r.Id), resumed.Zppo!.Buffer.Select(r => r.Id));
        Assert.Equal(2, trainer.Zppo.Buffer.Count);
    }

    [Fact]
    public void Packing_the_rl_forwards_and_sharing_prompts_compute_fewer_positions_and_the_same_step()
    {
        // L = 64 and one forward of all 8 rows: packed, the teachers' short responses share rows, where padded rows are all
        // p + L; with shared prompts, a question's student and teacher rows also hold one copy of its prompt.
        var (padded, _, _) = BuildRil(new RilConfig(), maxTokens: 64, microBatch: 8);
        var (packed, _, _) = BuildRil(new RilConfig(), pack: true, maxTokens: 64, microBatch: 8);
        var (shared, _, _) = BuildRil(new RilConfig(), maxTokens: 64, microBatch: 8, sharePrompt: true);
        var a = padded.RunStep();
        var b = packed.RunStep();
        var c = shared.RunStep();
        Assert.Equal(a.Update.SequencePositions, b.Update.SequencePositions);
        Assert.True(b.Update.ForwardPositions < a.Update.ForwardPositions, $"packed {b.Update.ForwardPositions} vs padded {a.Update.ForwardPositions}");
        Assert.True(c.Update.SequencePositions < a.Update.SequencePositions, $"shared {c.Update.SequencePositions} vs one prompt a row {a.Update.SequencePositions}");
        Assert.True(c.Update.ForwardPositions < b.Update.ForwardPositions, $"shared {c.Update.ForwardPositions} vs packed {b.Update.ForwardPositions}");
        var logged = TrainingMetrics.Of(c, [], klMeasured: true);
        Assert.Equal(c.Update.ForwardPositions, logged.Single(kv => kv.Key == "speed/update_positions").Value);
        Assert.InRange(logged.Single(kv => kv.Key == "speed/update_padded_share").Value!.Value, 0, 1);
        var wa = padded.Updater.Optimizer.AllParameters.Select(p => p.ToArray()).ToList();
        foreach (var (other, x) in new[] { (packed, b), (shared, c) })
        {
            Assert.Equal(a.Update.Loss, x.Update.Loss, 4);
            Assert.Equal(a.Update.PolicyLoss, x.Update.PolicyLoss, 4);
            Assert.Equal(a.Update.Kl, x.Update.Kl, 5);
            Assert.Equal(a.Reward, x.Reward);
            var wx = other.Updater.Optimizer.AllParameters.Select(p => p.ToArray()).ToList();
            for (int i = 0; i < wa.Count; i++)
                for (int j = 0; j < wa[i].Length; j++) Assert.Equal(wa[i][j], wx[i][j], 4);
        }
    }

    [Fact]
    public void Ril_settings_are_checked_against_the_rl_settings()
    {
        var rl = new RlConfig { Objective = Objective.Ril, GroupSize = 4 };
        Assert.Contains("loss.objective", Assert.Throws<ArgumentException>(() => new RilConfig().Validate(rl with { Objective = Objective.DrGrpo })).Message);
        var quota = new RilConfig { TeacherSampling = TeacherSampling.FixedQuota, TeacherQuota = new Dictionary<string, int> { ["a"] = 3 } };
        Assert.Contains("ril.teacher_quota", Assert.Throws<ArgumentException>(() => quota.Validate(rl)).Message);
        (quota with { TeacherQuota = new Dictionary<string, int> { ["a"] = 3, ["b"] = 1 } }).Validate(rl);
        Assert.Contains("ril.teachers", Assert.Throws<ArgumentException>(() => new RilConfig { Teachers = [] }.Validate(rl)).Message);
        Assert.Contains("ril.answer_weight", Assert.Throws<ArgumentException>(() => new RilConfig { Discriminator = DiscriminatorMode.None, AnswerWeight = 0 }.Validate(rl)).Message);
        var noD = Assert.Throws<ArgumentException>(() => new RilTrainer(rl, new RilConfig(), null!, null!, null, null!, new AnswerReward(), null, null!));
        Assert.Contains("updating discriminator", noD.Message);
        Assert.Contains("ril.teacher_slots", Assert.Throws<ArgumentException>(() => new RilConfig { TeacherWhen = TeacherWhen.AllFail, TeacherSlots = 5 }.Validate(rl)).Message);
        Assert.Contains("ril.teacher_when", Assert.Throws<ArgumentException>(() => new RilConfig { TeacherWhen = TeacherWhen.AllFail, TeacherTokens = TeacherTokens.None }.Validate(rl)).Message);
        Assert.Contains("ril.guidance", Assert.Throws<ArgumentException>(() => new RilConfig { Guidance = Guidance.Zppo }.Validate(rl)).Message);
        Assert.Contains("zppo.replay_per_step", Assert.Throws<ArgumentException>(() => new RilConfig { Guidance = Guidance.Zppo, TeacherTokens = TeacherTokens.None,
            Zppo = new ZppoConfig { ReplayPerStep = 8 } }.Validate(rl with { QuestionsPerStep = 8 })).Message);
    }
}

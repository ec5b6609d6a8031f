using Ril.Rewards;
using Ril.Tensors;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// RIL's discriminator (docs/spec/RIL.md, Eq. 1): BCE with student = 1 and teacher = 0, its gradient, learning to separate two
/// styles; the AUC and report conventions; the similarity rewards made from D's probability.
/// </summary>
public class DiscriminatorTests
{
    static double Sigmoid(double s) => 1 / (1 + Math.Exp(-s));

    static (float Loss, float[] Grad) LossAndGrad(float[] scores, float[] labels, float scale = 1f)
    {
        var s = Tensor.FromArray((float[])scores.Clone(), scores.Length).AsParameter("scores");
        var loss = Discriminator.Loss(s, labels, scale);
        loss.Backward();
        return (loss.Item(), s.Grad!.ToArray());
    }

    [Fact]
    public void Bce_matches_hand_computed_values_with_student_one_and_teacher_zero()
    {
        // scores [2, −1, 0], labels [student, teacher, student]: mean of −log σ(2), −log(1 − σ(−1)), log 2.
        var (loss, _) = LossAndGrad([2f, -1f, 0f], [1f, 0f, 1f]);
        double expected = (Math.Log(1 + Math.Exp(-2)) + Math.Log(1 + Math.Exp(-1)) + Math.Log(2)) / 3;
        Assert.Equal(0.377779, expected, 5);
        Assert.Equal(expected, loss, 5);

        // A large score is cheap only for the student.
        Assert.True(LossAndGrad([5f], [1f]).Loss < 0.01f);
        Assert.True(LossAndGrad([5f], [0f]).Loss > 4.99f);
        // The scale multiplies the mean (a micro-batch's share of its batch).
        Assert.Equal(expected * 0.25, LossAndGrad([2f, -1f, 0f], [1f, 0f, 1f], 0.25f).Loss, 5);
    }

    [Fact]
    public void Bce_is_finite_for_extreme_scores()
    {
        Assert.Equal(40f, LossAndGrad([-40f], [1f]).Loss, 3);   // −log σ(−40) = log(1 + e^40) ≈ 40
        Assert.Equal(40f, LossAndGrad([40f], [0f]).Loss, 3);
        Assert.Equal(0f, LossAndGrad([40f], [1f]).Loss, 6);
        var (_, grad) = LossAndGrad([-40f, 40f], [1f, 0f]);
        Assert.Equal(-0.5f, grad[0], 5);                             // (σ(−40) − 1)/2
        Assert.Equal(0.5f, grad[1], 5);                              // (σ(40) − 0)/2
    }

    [Fact]
    public void Bce_gradient_is_sigma_minus_label_over_batch_and_matches_finite_differences()
    {
        float[] scores = [2f, -1f, 0f, 0.7f, -2.5f];
        float[] labels = [1f, 0f, 1f, 0f, 1f];
        var (_, grad) = LossAndGrad(scores, labels);
        for (int i = 0; i < scores.Length; i++)
        {
            double closedForm = (Sigmoid(scores[i]) - labels[i]) / scores.Length;   // d BCE / d s_i = (σ(s_i) − y_i)/B
            Assert.Equal(closedForm, grad[i], 5);
            var plus = (float[])scores.Clone(); plus[i] += 1e-2f;
            var minus = (float[])scores.Clone(); minus[i] -= 1e-2f;
            double fd = (LossAndGrad(plus, labels).Loss - LossAndGrad(minus, labels).Loss) / 2e-2;
            Assert.True(Math.Abs(fd - grad[i]) < 1e-3, $"score {i}: backward {grad[i]}, finite difference {fd}");
        }
        Assert.Equal(-0.119203 / 5, grad[0], 5);                      // σ(2) − 1, by hand
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(2f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    public void A_label_other_than_zero_or_one_is_rejected(float label)
    {
        var e = Assert.Throws<ArgumentException>(() => LossAndGrad([0.3f, 0.1f], [1f, label]));
        Assert.Contains("neither 1 (student) nor 0 (teacher)", e.Message);
    }

    [Fact]
    public void Labels_must_match_the_scores_in_number() =>
        Assert.Throws<ArgumentException>(() => LossAndGrad([0.3f, 0.1f], [1f]));

    [Fact]
    public void An_example_is_labelled_one_for_the_student_and_zero_for_any_teacher()
    {
        Assert.Equal(1f, new DiscriminatorExample("q", "r", Rollout.Student).Label);
        Assert.False(new DiscriminatorExample("q", "r", Rollout.Student).IsTeacher);
        foreach (var teacher in new[] { "terse", "grouper", "qwen2.5-vl-72b" })
        {
            Assert.Equal(0f, new DiscriminatorExample("q", "r", teacher).Label);
            Assert.True(new DiscriminatorExample("q", "r", teacher).IsTeacher);
        }
    }

    // Two clearly different writing styles: a casual lowercase student and two formatted teachers.
    static string StudentStyle(int n) => $"{new[] { "um", "so", "well", "ok" }[n % 4]} the answer is {n} i guess";
    static string TerseStyle(int n) => $"**Answer:** {n}";
    static string StepsStyle(int n) => $"Step 1: group the terms.\nStep 2: compute {n}.\nTherefore, the answer is {n}.";

    static List<DiscriminatorExample> Styles(IEnumerable<int> numbers) => numbers.SelectMany(n => new[]
    {
        new DiscriminatorExample($"What is {n}?", StudentStyle(n), Rollout.Student),
        new DiscriminatorExample($"What is {n}?", StudentStyle(n + 1), Rollout.Student),
        new DiscriminatorExample($"What is {n}?", TerseStyle(n), "terse"),
        new DiscriminatorExample($"What is {n}?", StepsStyle(n), "steps"),
    }).ToList();

    [Fact]
    public void A_tiny_discriminator_learns_to_separate_two_styles()
    {
        var policy = TinyModels.TextPolicy(11);
        var d = Discriminator.FromStudent(policy, new Rng(12), DiscriminatorInput.Response, maxResponseTokens: 32);
        var config = new DiscriminatorConfig { LearningRate = 4e-3f, MicroBatchSize = 8 };
        var trainer = new DiscriminatorTrainer(d, config.Optimizer(d), config);
        var train = Styles(Enumerable.Range(0, 40));
        var heldOut = Styles(Enumerable.Range(100, 10));

        // The first step's accuracy is measured before the step, with the report's convention (student right when D ≥ 0.5).
        var firstBatch = train.Take(8).ToList();
        float reported = DiscriminatorTrainer.Evaluate(d, firstBatch).Accuracy;
        var first = trainer.Step(firstBatch);
        Assert.Equal(reported, first.Accuracy, 5);

        var rng = new Rng(13);
        var losses = new List<float> { first.Loss };
        for (int step = 1; step < 24; step++)
            losses.Add(trainer.Step(Enumerable.Range(0, 8).Select(_ => train[rng.NextInt(train.Count)]).ToList()).Loss);

        var report = DiscriminatorTrainer.Evaluate(d, heldOut);
        Assert.True(losses.TakeLast(4).Average() < 0.5f * losses.Take(4).Average(), $"BCE {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
        Assert.True(report.Accuracy >= 0.9f, $"held-out accuracy {report.Accuracy}");
        Assert.True(report.Auc >= 0.95f, $"held-out AUC {report.Auc}");
        Assert.True(report.StudentScore > 0.5f && report.TeacherScore < 0.5f, $"mean D: student {report.StudentScore}, teacher {report.TeacherScore}");
        Assert.Equal(["steps", "terse"], report.PerTeacher.Keys.Order());
        Assert.All(report.PerTeacher.Values, t => Assert.Equal(10, t.Count));
        // The reward pipeline's view is the same D.
        var probability = d.StudentProbability([new RewardInput("q", "What is 7?", "7", StudentStyle(107))]);
        Assert.True(probability[0] > 0.5f, $"D of a held-out student response {probability[0]}");
    }

    [Fact]
    public void Update_reports_accuracy_before_its_steps_and_counts_them()
    {
        var policy = TinyModels.TextPolicy(21);
        var d = Discriminator.FromStudent(policy, new Rng(22), DiscriminatorInput.QuestionAndResponse, maxResponseTokens: 16);
        var config = new DiscriminatorConfig { LearningRate = 1e-3f, MicroBatchSize = 3 };
        var trainer = new DiscriminatorTrainer(d, config.Optimizer(d), config);
        var batch = Styles([1, 2]);
        float before = DiscriminatorTrainer.Evaluate(d, batch).Accuracy;
        var stats = trainer.Update(batch, steps: 3);
        Assert.Equal(before, stats.AccuracyBefore, 5);
        Assert.Equal(3, stats.Steps);
        Assert.Equal(0, stats.SkippedSteps);
        Assert.True(float.IsFinite(stats.Loss) && stats.Loss > 0);
        Assert.True(float.IsNaN(trainer.Update(batch, steps: 0).Loss));
    }

    [Fact]
    public void Sharing_the_prefix_gives_the_padded_scores_and_gradients()
    {
        // Two layers, so that a row's second layer reads the prefix's states through the first; ten rows of long
        // responses, so that the rows' rests fill more than one forward row (at most four times the longest row each).
        var tokenizer = Ril.Text.BpeTokenizer.Load(TinyModels.TokenizerPath);
        var config = new Ril.Models.Families.Llama.DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 32, IntermediateSize = 64, NumLayers = 2, NumHeads = 2, NumKvHeadsField = 1 };
        var policy = Ril.Models.Families.RilVlm.RilVlmFamily.Chat(Ril.Models.Families.RilVlm.VisionLanguageModel.Create(config, null, 1, -1, new Rng(41)), tokenizer);
        var d = Discriminator.FromStudent(policy, new Rng(42), DiscriminatorInput.QuestionAndResponse, maxResponseTokens: 64);
        var batch = Enumerable.Range(0, 10).Select(i => new DiscriminatorExample(i < 7 ? "What is 2 + 2?" : "Name a colour.",
            string.Join(' ', Enumerable.Range(0, 8 + 7 * i).Select(w => $"word{(w * 7 + i) % 13}")), i % 3 == 0 ? "terse" : Rollout.Student)).ToList();
        var rows = batch.Select(e => d.Encode(e.Question, e.Response)).ToList();
        int prefix = Ril.Models.ScalarHeadModel.CommonPrefix(rows);
        Assert.True(prefix > 20, $"the system turn is shared: {prefix} tokens");
        Assert.True(batch.Select(e => d.Encode(e.Question, e.Response).Length - prefix).Sum() + prefix > 4 * rows.Max(r => r.Length), "more than one forward row");

        (float[] Scores, float[][] Grads) Run(bool share)
        {
            d.SharePrefix = share;
            foreach (var p in d.Parameters()) p.ZeroGrad();
            var scores = d.Logits(batch);
            Discriminator.Loss(scores, batch.Select(e => e.Label).ToArray()).Backward();
            return (scores.ToArray(), d.Parameters().Select(p => p.Grad!.ToArray()).ToArray());
        }
        var padded = Run(false);
        var shared = Run(true);
        for (int i = 0; i < batch.Count; i++) Assert.Equal(padded.Scores[i], shared.Scores[i], 4);
        for (int p = 0; p < padded.Grads.Length; p++)
        {
            float scale = Math.Max(1e-3f, padded.Grads[p].Max(MathF.Abs));
            for (int j = 0; j < padded.Grads[p].Length; j++) Assert.True(MathF.Abs(padded.Grads[p][j] - shared.Grads[p][j]) <= 1e-4f * scale,
                $"parameter {d.Parameters().ElementAt(p).Name}[{j}]: padded {padded.Grads[p][j]}, shared {shared.Grads[p][j]}");
        }
        // One row, or rows with no common prefix, are laid out padded.
        Assert.Equal(0, Ril.Models.ScalarHeadModel.CommonPrefix([rows[0]]));
        Assert.Equal(0, Ril.Models.ScalarHeadModel.CommonPrefix([[1, 2, 3], [4, 2, 3]]));
        Assert.Equal(1, Ril.Models.ScalarHeadModel.CommonPrefix([[1, 2, 3], [1, 2]]));   // each row keeps a token of its own
    }

    [Fact]
    public void From_student_copies_the_decoder_and_reads_the_question_only_when_asked()
    {
        var policy = TinyModels.TextPolicy(31);
        var d = Discriminator.FromStudent(policy, new Rng(32), DiscriminatorInput.Response, maxResponseTokens: 4);
        var student = policy.Model.Parameters().DistinctBy(p => p.Name).ToDictionary(p => p.Name!);
        foreach (var p in d.Model.Backbone.Parameters().DistinctBy(p => p.Name))
        {
            Assert.Equal(student[p.Name!].ToArray(), p.ToArray());
            Assert.NotSame(student[p.Name!], p);
        }
        Assert.Equal(d.Encode("first question", "same"), d.Encode("second question", "same"));
        var withQuestion = Discriminator.FromStudent(policy, new Rng(32), DiscriminatorInput.QuestionAndResponse, maxResponseTokens: 4);
        Assert.NotEqual(withQuestion.Encode("first question", "same"), withQuestion.Encode("second question", "same"));
        // Responses are cut to the limit: two responses sharing their first 4 tokens read the same.
        string long1 = "one two three four five six seven", long2 = "one two three four five six eight";
        Assert.Equal(d.Encode("q", long1), d.Encode("q", long2));
        Assert.NotEqual(d.Encode("q", "one"), d.Encode("q", "two"));
    }

    [Fact]
    public void Auc_counts_ties_as_one_half()
    {
        Assert.Equal(1f, DiscriminatorTrainer.Auc([0.9f, 0.8f, 0.6f], [0.1f, 0.5f]));    // perfect separation
        Assert.Equal(0f, DiscriminatorTrainer.Auc([0.1f, 0.5f], [0.9f, 0.8f, 0.6f]));    // reversed
        Assert.Equal(0.5f, DiscriminatorTrainer.Auc([0.3f, 0.3f], [0.3f]));              // all tied
        // pairs: 0.9 > 0.5, 0.9 > 0.1, 0.5 = 0.5 (½), 0.5 > 0.1 → 3.5 / 4
        Assert.Equal(0.875f, DiscriminatorTrainer.Auc([0.9f, 0.5f], [0.5f, 0.1f]), 6);
        Assert.True(float.IsNaN(DiscriminatorTrainer.Auc([0.9f], [])));
        Assert.True(float.IsNaN(DiscriminatorTrainer.Auc([], [0.1f])));
    }

    [Fact]
    public void Auc_equals_the_pairwise_count_on_values_with_many_ties()
    {
        var rng = new Rng(5);
        for (int trial = 0; trial < 20; trial++)
        {
            var pos = Enumerable.Range(0, 1 + rng.NextInt(9)).Select(_ => rng.NextInt(5) / 4f).ToList();
            var neg = Enumerable.Range(0, 1 + rng.NextInt(9)).Select(_ => rng.NextInt(5) / 4f).ToList();
            double pairs = pos.Sum(p => neg.Sum(n => p > n ? 1.0 : p == n ? 0.5 : 0.0));    // P(pos > neg) + ½·P(tie)
            Assert.Equal(pairs / (pos.Count * neg.Count), DiscriminatorTrainer.Auc(pos, neg), 5);
        }
    }

    [Fact]
    public void Report_counts_a_teacher_right_below_one_half_and_a_student_right_from_one_half()
    {
        var examples = new[] { Rollout.Student, Rollout.Student, Rollout.Student, "a", "a", "b", "b" }
            .Select(s => new DiscriminatorExample("q", "r", s)).ToList();
        float[] d = [0.5f, 0.9f, 0.2f, 0.4999f, 0.5f, 0.1f, 0.3f];
        var report = DiscriminatorTrainer.Report(examples, d);
        Assert.Equal(7, report.Count);
        Assert.Equal(2 / 3f, report.StudentAccuracy, 5);      // 0.5 and 0.9 are right, 0.2 is not
        Assert.Equal(3 / 4f, report.TeacherAccuracy, 5);      // 0.4999, 0.1, 0.3 are right; 0.5 is not
        Assert.Equal(5 / 7f, report.Accuracy, 5);
        Assert.Equal(1.6f / 3, report.StudentScore, 5);
        Assert.Equal(0.5f, report.PerTeacher["a"].Accuracy, 5);
        Assert.Equal(1f, report.PerTeacher["b"].Accuracy, 5);
        Assert.Equal(0.2f, report.PerTeacher["b"].Score, 5);
        // students [0.5, 0.9, 0.2] against b [0.1, 0.3]: 0.5 and 0.9 beat both, 0.2 beats 0.1 only → 5/6
        Assert.Equal(5 / 6f, report.PerTeacher["b"].Auc, 5);
    }

    /// <summary>A discriminator whose D is given per response text; it remembers what it was asked.</summary>
    sealed class ScriptedDiscriminator(Dictionary<string, float> d, int drop = 0) : IResponseDiscriminator
    {
        public List<string> Asked { get; } = [];
        public float[] StudentProbability(IReadOnlyList<RewardInput> batch)
        {
            Asked.AddRange(batch.Select(b => b.Response));
            return batch.Skip(drop).Select(b => d[b.Response]).ToArray();
        }
    }

    [Theory]
    [InlineData(0f, 1f)]
    [InlineData(0.4999f, 1f)]
    [InlineData(0.5f, 0f)]          // D = 0.5 exactly is not a teacher: 1[D < 0.5]
    [InlineData(0.5001f, 0f)]
    [InlineData(1f, 0f)]
    public void Binary_similarity_is_one_strictly_below_one_half(float d, float reward) =>
        Assert.Equal(reward, SimilarityReward.FromProbability(d, SimilarityKind.Binary));

    [Theory]
    [InlineData(0f, 1f)]
    [InlineData(0.2499f, 1f)]
    [InlineData(0.25f, 0.5f)]
    [InlineData(0.5f, 0.5f)]
    [InlineData(0.7499f, 0.5f)]
    [InlineData(0.75f, 0f)]
    [InlineData(1f, 0f)]
    public void Three_level_similarity_steps_at_a_quarter_and_three_quarters(float d, float reward) =>
        Assert.Equal(reward, SimilarityReward.FromProbability(d, SimilarityKind.Levels3));

    [Theory]
    [InlineData(0f, 1f)]
    [InlineData(0.0499f, 1f)]
    [InlineData(0.0501f, 0.9f)]
    [InlineData(0.5f, 0.5f)]
    [InlineData(0.5499f, 0.5f)]
    [InlineData(0.5501f, 0.4f)]
    [InlineData(0.9499f, 0.1f)]
    [InlineData(0.9501f, 0f)]
    [InlineData(1f, 0f)]
    public void Eleven_level_similarity_is_one_minus_d_to_the_nearest_tenth(float d, float reward) =>
        Assert.Equal(reward, SimilarityReward.FromProbability(d, SimilarityKind.Levels11), 5);

    [Fact]
    public void Similarity_rewards_fall_as_d_rises_and_stay_in_their_levels()
    {
        foreach (var kind in Enum.GetValues<SimilarityKind>())
        {
            float previous = float.PositiveInfinity;
            for (int k = 0; k <= 1000; k++)
            {
                float d = k / 1000f, r = SimilarityReward.FromProbability(d, kind);
                Assert.InRange(r, 0f, 1f);
                Assert.True(r <= previous, $"{kind}: reward rises at D = {d}");
                previous = r;
                if (kind == SimilarityKind.Continuous) Assert.Equal(1f - d, r, 6);   // 1 − D
                if (kind == SimilarityKind.Levels11) Assert.Equal(MathF.Round(r * 10), r * 10, 4);
            }
        }
    }

    [Fact]
    public async Task Similarity_reward_scores_with_the_discriminators_probabilities()
    {
        var probabilities = new Dictionary<string, float> { ["teacherish"] = 0.1f, ["borderline"] = 0.5f, ["studentish"] = 0.8f, ["unsure"] = 0.3f };
        var inputs = probabilities.Keys.Select(r => new RewardInput("q", "question", "1", r)).ToList();
        var expected = new Dictionary<SimilarityKind, float[]>
        {
            [SimilarityKind.Binary] = [1f, 0f, 0f, 1f],
            [SimilarityKind.Continuous] = [0.9f, 0.5f, 0.2f, 0.7f],
            [SimilarityKind.Levels11] = [0.9f, 0.5f, 0.2f, 0.7f],
            [SimilarityKind.Levels3] = [1f, 0.5f, 0f, 0.5f],
        };
        foreach (var (kind, rewards) in expected)
        {
            var d = new ScriptedDiscriminator(probabilities);
            var similarity = new SimilarityReward(d, kind);
            var scored = await similarity.ScoreAsync(inputs);
            Assert.Equal(probabilities.Keys, d.Asked);
            for (int i = 0; i < rewards.Length; i++) Assert.Equal(rewards[i], scored[i], 5);
            Assert.Equal(probabilities.Values, similarity.LastProbabilities);
            Assert.Equal("similarity", similarity.Name);
        }
        Assert.Equal(SimilarityKind.Binary, new SimilarityReward(new ScriptedDiscriminator(probabilities)).Kind);
        var tooFew = new SimilarityReward(new ScriptedDiscriminator(probabilities, drop: 1));
        Assert.Throws<InvalidOperationException>(() => tooFew.ScoreAsync(inputs).Result);
    }

    [Fact]
    public void Similarity_kinds_parse_by_their_recipe_names()
    {
        Assert.Equal(SimilarityKind.Binary, SimilarityReward.Parse("binary"));
        Assert.Equal(SimilarityKind.Continuous, SimilarityReward.Parse("continuous"));
        Assert.Equal(SimilarityKind.Levels11, SimilarityReward.Parse("11-level"));
        Assert.Equal(SimilarityKind.Levels3, SimilarityReward.Parse("3-level"));
        Assert.Contains("'five-level'", Assert.Throws<ArgumentException>(() => SimilarityReward.Parse("five-level")).Message);
    }
}

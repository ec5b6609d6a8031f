using System.Globalization;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Data.Images;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Rewards;
using Ril.Tensors.Distributed;
using Ril.Training;

namespace Ril.Evaluation;

/// <summary>
/// A decoding setting of the evaluation: temperature, top-p, and K samples per question, the question counting as
/// solved when any of them is correct (MAYE's pass@K). MAYE's three are <see cref="Maye"/>.
/// </summary>
public sealed record EvalSetting(string Name, float Temperature, float TopP, int K)
{
    public static readonly EvalSetting Low = Of(0.01f, 0.001f, 1);
    public static readonly EvalSetting Medium = Of(0.6f, 1f, 1);
    public static readonly EvalSetting HighPass8 = Of(1.0f, 1f, 8);

    /// <summary>docs/spec/MAYE.md: T = 0.01 top-p 0.001 pass@1, T = 0.6 pass@1, T = 1.0 pass@8.</summary>
    public static IReadOnlyList<EvalSetting> Maye => [Low, Medium, HighPass8];

    /// <summary>The setting named by its numbers: "t0.6_pass@1", "t0.01_p0.001_pass@1" (top-p shown when below 1).</summary>
    public static EvalSetting Of(float temperature, float topP, int k)
    {
        if (temperature < 0) throw new ArgumentException($"evaluation setting: temperature {temperature} must be ≥ 0");
        if (topP <= 0 || topP > 1) throw new ArgumentException($"evaluation setting: top-p {topP} must be in (0, 1]");
        if (k < 1) throw new ArgumentException($"evaluation setting: k = {k} must be ≥ 1");
        string Num(float v) => v.ToString("0.0##", CultureInfo.InvariantCulture);
        return new($"t{Num(temperature)}{(topP < 1 ? "_p" + Num(topP) : "")}_pass@{k}", temperature, topP, k);
    }

    /// <summary>
    /// A comma-separated list: "maye" (the three), or "T:top_p:k" triples, e.g. "maye,0.3:0.95:4". Duplicates are dropped.
    /// </summary>
    public static IReadOnlyList<EvalSetting> ParseList(string spec)
    {
        var list = new List<EvalSetting>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals("maye", StringComparison.OrdinalIgnoreCase)) { list.AddRange(Maye); continue; }
            var f = part.Split(':');
            if (f.Length != 3 || !float.TryParse(f[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var t)
                || !float.TryParse(f[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || !int.TryParse(f[2], out var k))
                throw new ArgumentException($"evaluation setting '{part}': expected 'maye' or T:top_p:k, e.g. 0.6:1:1");
            list.Add(Of(t, p, k));
        }
        if (list.Count == 0) throw new ArgumentException("no evaluation settings given");
        return list.DistinctBy(s => s.Name).ToList();
    }
}

/// <summary>One sampled response to an evaluation question, with its final answer and the verdict on it.</summary>
public sealed record EvalSample(int Index, string Response, string? ExtractedAnswer, bool Correct, int Tokens, string FinishReason);

/// <summary>A question's K samples; solved when any is correct.</summary>
public sealed record EvalQuestion(string Id, string Question, string GroundTruth, IReadOnlyList<EvalSample> Samples)
{
    public bool Solved => Samples.Any(s => s.Correct);
}

/// <summary>What one evaluation found: accuracy (pass@K), the responses' lengths and reflection, and how long it took.</summary>
public sealed record EvalSummary(string Split, string Setting, float Temperature, float TopP, int K, long Step, int Epoch, string Verifier,
    int Questions, int Solved, double? Accuracy, double? SampleAccuracy, double? MeanResponseTokens, double? EndTokenShare,
    double? LengthClipRatio, ReflectionStats Reflection, double Seconds)
{
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["split"] = Split, ["setting"] = Setting, ["temperature"] = Temperature, ["top_p"] = TopP, ["k"] = K,
            ["step"] = Step, ["epoch"] = Epoch, ["verifier"] = Verifier, ["questions"] = Questions, ["solved"] = Solved,
            ["accuracy"] = Accuracy, ["sample_accuracy"] = SampleAccuracy, ["mean_response_tokens"] = MeanResponseTokens,
            ["end_token_share"] = EndTokenShare, ["length_clip_ratio"] = LengthClipRatio, ["seconds"] = Math.Round(Seconds, 3),
        };
        foreach (var (name, value) in Reflection.Ratios) o[name] = value;
        return o;
    }
}

/// <summary>An evaluation of one split under one setting: every question's samples and the summary.</summary>
public sealed record EvalResult(IReadOnlyList<EvalQuestion> Questions, EvalSummary Summary)
{
    /// <summary>The per-sample file of this evaluation inside an evaluation folder: {split}/{setting}/step-000123.jsonl.</summary>
    public string SamplesPath(string evalDir) =>
        Path.Combine(evalDir, Summary.Split, Summary.Setting, $"step-{Summary.Step:D6}.jsonl");

    /// <summary>
    /// Writes one JSON line per sample (question id, sample index, question, response, extracted answer, verdict, tokens,
    /// finish reason, ground truth) to <see cref="SamplesPath"/> (replaced whole, atomically), and appends the summary as one
    /// line of {evalDir}/summary.jsonl. In a data-parallel run (`mpirun … ril eval`) rank 0 alone writes: every rank holds
    /// the whole gathered result.
    /// </summary>
    public void WriteTo(string evalDir)
    {
        if (!World.IsRoot) return;
        var path = SamplesPath(evalDir);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        using (var writer = new StreamWriter(temporary, false, new System.Text.UTF8Encoding(false)))
            foreach (var q in Questions)
                foreach (var s in q.Samples)
                    writer.Write(new JsonObject
                    {
                        ["id"] = q.Id, ["sample"] = s.Index, ["question"] = q.Question, ["response"] = s.Response, ["extracted_answer"] = s.ExtractedAnswer,
                        ["correct"] = s.Correct, ["tokens"] = s.Tokens, ["finish_reason"] = s.FinishReason, ["answer"] = q.GroundTruth,
                    }.ToJsonString() + "\n");
        File.Move(temporary, path, overwrite: true);
        using var summary = new JsonlAppender(Path.Combine(evalDir, "summary.jsonl"));
        summary.Append(Summary.ToJson().ToJsonString());
    }
}

public sealed record EvaluatorOptions
{
    /// <summary>The most tokens of a response (MAYE: 2048).</summary>
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>Questions sampled together (each with K samples).</summary>
    public int QuestionsPerBatch { get; init; } = 16;
    /// <summary>Question i's sample j draws from a stream fixed by (Seed, i, j): results do not depend on batching.</summary>
    public ulong Seed { get; init; }
}

/// <summary>
/// Accuracy of a policy on a dataset under decoding settings (docs/spec/MAYE.md evaluation scheme): K samples per
/// question, each judged by the verifier (<see cref="AnswerReward"/>) or the judge (<see cref="LlmJudge"/>) — any
/// <see cref="IRewardFunction"/> whose score ≥ 0.5 means correct. In a data-parallel run the questions are shared out over
/// the processes (<paramref name="world"/>) and the results gathered, so every process returns the whole evaluation.
/// </summary>
public sealed class Evaluator(ChatModel policy, IRewardFunction verdict, EvaluatorOptions? options = null, ICommunicator? world = null)
{
    readonly EvaluatorOptions _options = options ?? new EvaluatorOptions();
    readonly ICommunicator _world = world ?? World.Current;
    readonly Generator _generator = new(policy.Model, ids => policy.Decode(ids), policy.PadId);

    public EvalResult Evaluate(string split, IReadOnlyList<DatasetRow> rows, EvalSetting setting, long step = 0, int epoch = 0)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // The setting's temperature and top-p; top-k, repetition penalty and end ids from the model's generation_config.json.
        var sampling = policy.Defaults.Resolve(setting.Temperature, setting.TopP, null, null, _options.MaxNewTokens, policy.StopTokens);
        var (first, share) = _world.ShareOf(rows.Count);
        var questions = new List<EvalQuestion>(share);
        for (int start = first; start < first + share; start += _options.QuestionsPerBatch)
        {
            var batch = rows.Skip(start).Take(Math.Min(_options.QuestionsPerBatch, first + share - start)).ToList();
            var requests = batch.Select((row, i) =>
            {
                var (prompt, pixels) = policy.Prompt(row);
                return new GenerationRequest(prompt, setting.K, _options.Seed * 1_000_003UL + (ulong)(start + i) * 7919UL, pixels);
            }).ToList();
            var generated = _generator.Generate(requests, sampling);
            var inputs = new List<RewardInput>();
            for (int q = 0; q < batch.Count; q++)
                foreach (var s in generated[q])
                    inputs.Add(new RewardInput(batch[q].Id, batch[q].Question, batch[q].Answer, s.Text ?? "")
                    {
                        ResponseTokens = s.TokenIds.Length, HasEndToken = s.FinishReason == GeneratedSequence.Stop,
                    });
            var scores = verdict.ScoreAsync(inputs).GetAwaiter().GetResult();
            for (int q = 0, at = 0; q < batch.Count; q++)
            {
                var samples = generated[q].Select((s, j) => new EvalSample(j, s.Text ?? "", AnswerExtraction.Extract(s.Text ?? "")?.Text,
                    scores[at + j] >= 0.5f, s.TokenIds.Length, s.FinishReason)).ToList();
                at += samples.Count;
                questions.Add(new EvalQuestion(batch[q].Id, batch[q].Question, batch[q].Answer, samples));
            }
        }
        var all = _world.Size == 1 ? questions : _world.AllGatherJson(questions).SelectMany(q => q).ToList();   // in row order
        return new EvalResult(all, Summarise(split, setting, step, epoch, all, clock.Elapsed.TotalSeconds));
    }

    EvalSummary Summarise(string split, EvalSetting setting, long step, int epoch, List<EvalQuestion> questions, double seconds)
    {
        var samples = questions.SelectMany(q => q.Samples).ToList();
        double? Mean(Func<EvalSample, double> f) => samples.Count == 0 ? null : samples.Average(f);
        return new EvalSummary(split, setting.Name, setting.Temperature, setting.TopP, setting.K, step, epoch, verdict.Name,
            questions.Count, questions.Count(q => q.Solved), PassAtK.Accuracy(questions.Select(q => q.Samples.Select(s => s.Correct))),
            Mean(s => s.Correct ? 1 : 0), Mean(s => s.Tokens), Mean(s => s.FinishReason == GeneratedSequence.Stop ? 1 : 0),
            Mean(s => s.FinishReason == GeneratedSequence.Length ? 1 : 0),
            ReflectionMetrics.Compute(samples.Select(s => (s.Response, s.Correct))), seconds);
    }
}

using System.Text.Json.Nodes;
using Ril.Tensors.Distributed;
using Ril.Training;

namespace Ril.Evaluation;

/// <summary>
/// A run directory, as every training run writes it and `ril report` reads it:
/// <code>
/// config.json                      the run's settings (name, seed, recipe); runs equal but for the seed form a group
/// metrics.jsonl                    one object per step (<see cref="TrainingMetrics"/>)
/// events.out.tfevents.*            the same scalars, evaluation accuracies and text samples for TensorBoard
/// eval/summary.jsonl               one object per evaluation (split × setting × step)
/// eval/{split}/{setting}/step-N.jsonl   the evaluation's samples: question id, response, extracted answer, verdict
/// </code>
/// Appends survive a crash (whole lines); a resumed run appends to the same files. In a data-parallel run only rank 0
/// writes: on the other processes a RunLog computes what it would log (for the console) and writes nothing.
/// </summary>
public sealed class RunLog : IDisposable
{
    readonly MetricsWriter? _metrics;
    readonly TensorBoardWriter? _events;
    readonly Dictionary<int, (int Correct, int Total)> _epochAccuracy = [];

    public string Directory { get; }
    public string EvalDirectory => Path.Combine(Directory, "eval");
    public string MetricsPath => Path.Combine(Directory, "metrics.jsonl");
    /// <summary>The event file this log writes (null on processes that do not write).</summary>
    public string? EventsPath => _events?.FilePath;
    /// <summary>What the last <see cref="LogStep"/> logged.</summary>
    public IReadOnlyList<KeyValuePair<string, double?>> LastStep { get; private set; } = [];

    RunLog(string directory, Func<double>? clock, bool writes, long? resumedAt = null)
    {
        Directory = directory;
        if (!writes) return;
        _metrics = new MetricsWriter(MetricsPath, resumedAt);
        _events = new TensorBoardWriter(directory, clock);
    }

    /// <summary>
    /// Opens (or creates) a run directory and writes its config.json (replaced atomically); on ranks other than 0, a log
    /// that writes nothing. Collective in a data-parallel run: every process calls it.
    /// </summary>
    /// <param name="config">written as config.json, the run's provenance; null on a resume, which keeps the run's own</param>
    /// <param name="resumedAt">on a resume, the step of the checkpoint it continues from (later rows of metrics.jsonl go)</param>
    public static RunLog Open(string directory, JsonObject? config, Func<double>? clock = null, long? resumedAt = null)
    {
        World.Current.Barrier();   // every process has checked the run directory (exists? resume?) before rank 0 creates it
        if (!World.IsRoot) return new RunLog(directory, clock, writes: false);
        System.IO.Directory.CreateDirectory(directory);
        if (config is not null)
        {
            var path = Path.Combine(directory, "config.json");
            File.WriteAllText(path + ".tmp", config.ToJsonString(new() { WriteIndented = true }) + "\n");
            File.Move(path + ".tmp", path, overwrite: true);
        }
        return new RunLog(directory, clock, writes: true, resumedAt);
    }

    /// <summary>Logs one RL step: metrics.jsonl, TensorBoard scalars, and one of the step's responses as a text sample.</summary>
    /// <param name="epoch">The epoch the step's questions came from (training accuracy accumulates over it).</param>
    public IReadOnlyList<KeyValuePair<string, double?>> LogStep(StepMetrics m, IReadOnlyList<ScoredResponse> responses, bool klMeasured, int epoch)
    {
        var student = responses.Where(r => r.IsStudent).ToList();
        var (correct, total) = _epochAccuracy.GetValueOrDefault(epoch);
        _epochAccuracy[epoch] = (correct + student.Count(r => r.Correct), total + student.Count);
        var (c, t) = _epochAccuracy[epoch];
        var values = TrainingMetrics.Of(m, responses, klMeasured, t == 0 ? null : (double)c / t, epoch);
        if (_metrics is null || _events is null) return LastStep = values;
        _metrics.Write(m.Step, values);
        foreach (var (name, value) in values)
            if (value is { } v) _events.AddScalar(name, v, m.Step);
        if (student.Count > 0)
        {
            var r = student.FirstOrDefault(s => s.Correct) ?? student[0];
            _events.AddText("samples/train", Markdown(r.Question, r.GroundTruth, r.Response, r.Correct), m.Step);
        }
        return LastStep = values;
    }

    /// <summary>Logs an evaluation: its per-sample file and summary line under eval/, and its accuracy in TensorBoard.</summary>
    public void LogEvaluation(EvalResult result)
    {
        if (_events is null) return;
        result.WriteTo(EvalDirectory);
        var s = result.Summary;
        var prefix = $"eval/{s.Split}/{s.Setting}";
        if (s.Accuracy is { } accuracy) _events.AddScalar($"{prefix}/accuracy", accuracy, s.Step);
        if (s.MeanResponseTokens is { } length) _events.AddScalar($"{prefix}/response_length", length, s.Step);
        if (s.Reflection.ReflectionRatio is { } ratio) _events.AddScalar($"{prefix}/reflection_ratio", ratio, s.Step);
        if (result.Questions.Count > 0)
        {
            var q = result.Questions[0];
            _events.AddText($"samples/{s.Split}/{s.Setting}", Markdown(q.Question, q.GroundTruth, q.Samples[0].Response, q.Samples[0].Correct), s.Step);
        }
    }

    static string Markdown(string question, string answer, string response, bool correct) =>
        $"**Question** {question}\n\n**Ground truth** {answer}\n\n**Response** ({(correct ? "correct" : "wrong")})\n\n    {response.Replace("\n", "\n    ")}";

    public void Dispose()
    {
        _metrics?.Dispose();
        _events?.Dispose();
    }
}

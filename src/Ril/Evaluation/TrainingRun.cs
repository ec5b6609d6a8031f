using Ril.Data;
using Ril.Tensors.Distributed;
using Ril.Training;

namespace Ril.Evaluation;

/// <summary>A dataset evaluated during training (validation, test).</summary>
public sealed record EvalSplit(string Name, IReadOnlyList<DatasetRow> Rows);

/// <summary>When to evaluate: before any update (step 0), every K steps, at the end of each epoch, after the last step.</summary>
public sealed record EvalSchedule(int EverySteps = 0, bool EachEpoch = true, bool AtStart = true, bool AtEnd = true);

/// <summary>Told of a run's progress (the console view; tests).</summary>
public interface ITrainingView
{
    void Step(long step, long totalSteps, IReadOnlyList<KeyValuePair<string, double?>> metrics);
    void Evaluated(EvalSummary summary);
}

/// <summary>
/// An RL run with MAYE's evaluation scheme: the trainer's steps, each logged (<see cref="RunLog"/>), with evaluations
/// on every split under every setting at step 0 (before any update), on the <see cref="EvalSchedule"/>, and at the end.
/// The <paramref name="recorder"/> must be the accuracy reward inside the trainer's reward set. In a data-parallel run
/// every process takes part in every step and evaluation; the step's responses are gathered from all of them before
/// logging, and only rank 0 tells the <see cref="ITrainingView"/>.
/// </summary>
public sealed class TrainingRun(StepTrainer trainer, RolloutRecorder recorder, RunLog log, int trainRows,
    Evaluator? evaluator = null, IReadOnlyList<EvalSplit>? splits = null, IReadOnlyList<EvalSetting>? settings = null, EvalSchedule? schedule = null)
{
    readonly EvalSchedule _schedule = schedule ?? new EvalSchedule();
    readonly IReadOnlyList<EvalSplit> _splits = splits ?? [];
    readonly IReadOnlyList<EvalSetting> _settings = settings ?? EvalSetting.Maye;
    long _lastEvaluated = -1;

    public List<EvalSummary> Evaluations { get; } = [];

    /// <summary>
    /// Memory metrics logged with every step, given the step's activation peak in bytes (the tensor buffers it rented
    /// beyond those it began with); none when null.
    /// </summary>
    public Func<long, IReadOnlyDictionary<string, double>>? MemoryMetrics { get; init; }

    /// <summary>
    /// Runs until the trainer has taken <paramref name="totalSteps"/> steps (a resumed trainer continues from its step);
    /// <paramref name="afterStep"/> runs after each step is logged and evaluated (checkpoints).
    /// </summary>
    public void Run(int totalSteps, ITrainingView? view = null, Action<StepMetrics>? afterStep = null)
    {
        if (!World.IsRoot) view = null;
        if (_schedule.AtStart && trainer.Step == 0) Evaluate(0, 0, view);
        while (trainer.Step < totalSteps)
        {
            int epoch = trainer.Data.Epoch;
            bool wrapped = trainer.Data.Position == trainRows;   // the next question starts a new epoch
            if (wrapped) epoch++;
            StepMetrics m = null!;
            long activations = Training.MemoryBreakdown.ActivationPeak(() => m = trainer.RunStep());
            if (MemoryMetrics is not null)
                m = m with { Extra = [.. m.Extra ?? [], .. MemoryMetrics(activations).Select(kv => new KeyValuePair<string, double?>(kv.Key, kv.Value))] };
            var responses = World.Current.AllGatherJson(recorder.Take()).SelectMany(r => r).ToList();   // the global batch's, in question order
            var metrics = log.LogStep(m, responses, klMeasured: trainer.Config.KlCoef != 0, epoch);
            view?.Step(m.Step, totalSteps, metrics);
            bool epochDone = trainer.Data.Position == trainRows || trainer.Data.Epoch > epoch;
            if ((_schedule.EverySteps > 0 && m.Step % _schedule.EverySteps == 0) || (_schedule.EachEpoch && epochDone))
                Evaluate(m.Step, CompletedEpochs, view);
            afterStep?.Invoke(m);
        }
        if (_schedule.AtEnd && _lastEvaluated != trainer.Step) Evaluate(trainer.Step, CompletedEpochs, view);
    }

    int CompletedEpochs => trainer.Data.Epoch + (trainer.Data.Position == trainRows ? 1 : 0);

    void Evaluate(long step, int epoch, ITrainingView? view)
    {
        _lastEvaluated = step;
        if (evaluator is null) return;
        foreach (var split in _splits)
            foreach (var setting in _settings)
            {
                var result = evaluator.Evaluate(split.Name, split.Rows, setting, step, epoch);
                log.LogEvaluation(result);
                Evaluations.Add(result.Summary);
                view?.Evaluated(result.Summary);
            }
    }
}

using Ril.Data;
using Ril.Tensors;
using Ril.Tensors.Memory;

namespace Ril.Training;

/// <summary>Metrics of one RL step (spec/MAYE.md's per-step scheme, the part the pipeline itself knows).</summary>
/// <param name="Extra">Further named metrics of a variant's own (RIL's discriminator and per-teacher statistics), logged as they are.</param>
public sealed record StepMetrics(int Step, float Reward, IReadOnlyDictionary<string, float> RewardByName, float ResponseLength,
    float LengthClipRatio, float EndTokenShare, float Entropy, float ZeroVarianceShare, UpdateStats Update,
    double RolloutSeconds, double LogProbSeconds, double RewardSeconds, double RolloutTokensPerSecond, double UpdateTokensPerSecond,
    IReadOnlyList<KeyValuePair<string, double?>>? Extra = null);

/// <summary>A training loop that takes one step at a time over a <see cref="DataFlow"/> (the RL loop, the RIL loop).</summary>
public interface IStepTrainer
{
    RlConfig Config { get; }
    DataFlow Data { get; }
    /// <summary>Steps taken so far.</summary>
    int Step { get; }
    StepMetrics RunStep();
}

/// <summary>
/// The RL loop, four steps per batch (spec/MAYE.md): questions → G responses each → trajectory (log-probs, masks,
/// rewards, advantages) → policy update.
/// </summary>
public sealed class RlTrainer : IStepTrainer
{
    public RlConfig Config { get; }
    public DataFlow Data { get; }
    public ResponseCollector Collector { get; }
    public TrajectoryBuilder Trajectories { get; }
    public PolicyUpdater Updater { get; }
    public int Step { get; private set; }
    readonly Rng _rng;

    public RlTrainer(RlConfig config, DataFlow data, ResponseCollector collector, TrajectoryBuilder trajectories, PolicyUpdater updater)
    {
        config.Validate();
        (Config, Data, Collector, Trajectories, Updater) = (config, data, collector, trajectories, updater);
        _rng = new Rng(config.Seed);
    }

    /// <summary>Where the run stands, for a checkpoint.</summary>
    public TrainingState State => new(Step, Data.Epoch, Data.Position, _rng.GetState());

    /// <summary>Continues from a checkpoint's state (weights and optimizer are loaded by <see cref="TrainingCheckpoint.Load"/>).</summary>
    public void Restore(TrainingState state)
    {
        Step = state.Step;
        Data.Seek(state.Epoch, state.Position);
        _rng.SetState(state.Rng);
    }

    public StepMetrics RunStep()
    {
        using var scope = TensorScope.Begin();
        var questions = Data.Next(Config.QuestionsPerStep);                                       // 1. data flow
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var rollouts = Collector.Collect(questions, Config.Seed + (ulong)Step);                   // 2. response collection
        double rolloutSeconds = sw.Elapsed.TotalSeconds;
        var trajectory = Trajectories.Build(questions, rollouts, Config.GroupSize);               // 3. trajectory generation
        var update = Updater.Update(trajectory, _rng);                                            // 4. policy update
        Step++;
        return Metrics(trajectory, update, rolloutSeconds);
    }

    StepMetrics Metrics(Trajectory tr, UpdateStats update, double rolloutSeconds)
    {
        var lengths = tr.Rollouts.Select(r => (float)r.Tokens.Length).ToArray();
        long generated = tr.Rollouts.Where(r => !r.IsTeacher).Sum(r => (long)r.Tokens.Length);
        double entropy = 0, tokens = 0;
        for (int j = 0; j < tr.Mask.Length; j++) { entropy += tr.Mask[j] * tr.Entropy[j]; tokens += tr.Mask[j]; }
        return new StepMetrics(Step, tr.Rewards.Average(), tr.RewardsByName.ToDictionary(kv => kv.Key, kv => kv.Value.Average()),
            lengths.Average(), tr.Rollouts.Count(r => r.FinishReason == Models.Generation.GeneratedSequence.Length) / (float)tr.Rollouts.Count,
            tr.Rollouts.Count(r => r.FinishReason == Models.Generation.GeneratedSequence.Stop) / (float)tr.Rollouts.Count,
            (float)(entropy / Math.Max(tokens, 1)), tr.ZeroVarianceShare, update, rolloutSeconds, tr.LogProbSeconds, tr.RewardSeconds,
            generated / Math.Max(rolloutSeconds, 1e-9), update.Tokens / Math.Max(update.Seconds, 1e-9));
    }
}

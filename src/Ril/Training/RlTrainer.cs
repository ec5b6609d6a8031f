using Ril.Data;
using Ril.Tensors;
using Ril.Tensors.Distributed;
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
    /// <summary>Where the run stands, for a checkpoint.</summary>
    TrainingState State { get; }
    /// <summary>Continues from a checkpoint's state (weights and optimizers are loaded by <see cref="TrainingCheckpoint.Load"/>).</summary>
    void Restore(TrainingState state);
    /// <summary>Models trained beside the policy (RIL's discriminator), saved in the same checkpoints.</summary>
    IReadOnlyList<CheckpointPart> CheckpointParts { get; }
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

    public TrainingState State => new(Step, Data.Epoch, Data.Position, _rng.GetState());

    public IReadOnlyList<CheckpointPart> CheckpointParts => [];

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
        var s = RolloutStatistics.Of(tr, World.Current);                                          // over the global batch
        return new StepMetrics(Step, s.Reward, s.RewardByName, s.ResponseLength, s.LengthClipRatio, s.EndTokenShare, s.Entropy,
            tr.ZeroVarianceShare, update, rolloutSeconds, tr.LogProbSeconds, tr.RewardSeconds,
            s.GeneratedTokens / Math.Max(rolloutSeconds, 1e-9), update.Tokens / Math.Max(update.Seconds, 1e-9));
    }
}

using Ril.Data;
using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Distributed;
using Ril.Tensors.Memory;

namespace Ril.Training;

/// <summary>Metrics of one RL step (docs/spec/MAYE.md's per-step scheme, the part the pipeline itself knows).</summary>
/// <param name="Extra">Further named metrics of a variant's own (RIL's discriminator and per-teacher statistics), logged as they are.</param>
public sealed record StepMetrics(int Step, float Reward, IReadOnlyDictionary<string, float> RewardByName, float ResponseLength,
    float LengthClipRatio, float EndTokenShare, float Entropy, float ZeroVarianceShare, UpdateStats Update,
    double RolloutSeconds, double LogProbSeconds, double RewardSeconds, double RolloutTokensPerSecond, double UpdateTokensPerSecond,
    IReadOnlyList<KeyValuePair<string, double?>>? Extra = null);

/// <summary>
/// A training loop that takes one step at a time over a <see cref="DataFlow"/> (the RL loop, the RIL loop). It keeps
/// what a checkpoint must hold besides weights: the steps taken, the data flow's place and the loop's random stream.
/// </summary>
public abstract class StepTrainer
{
    public RlConfig Config { get; }
    public DataFlow Data { get; }
    /// <summary>Steps taken so far.</summary>
    public int Step { get; private set; }
    /// <summary>The loop's random stream (mini-batch order), saved in checkpoints.</summary>
    protected Rng Rng { get; }

    protected StepTrainer(RlConfig config, DataFlow data)
    {
        config.Validate();
        (Config, Data) = (config, data);
        Rng = new Rng(config.Seed);
    }

    /// <summary>Takes one step; <see cref="Step"/> counts it once <see cref="TakeStep"/> returns.</summary>
    public StepMetrics RunStep()
    {
        StepMetrics metrics;
        using (ImageFeatureCache.Begin()) metrics = TakeStep();                                 // each question's images encoded once a step
        Step++;
        return metrics;
    }

    /// <summary>One step of the loop, while <see cref="Step"/> still counts the steps before it; its metrics are numbered Step + 1.</summary>
    protected abstract StepMetrics TakeStep();

    /// <summary>Where the run stands, for a checkpoint.</summary>
    public TrainingState State => new(Step, Data.Epoch, Data.Position, Rng.GetState(), ExtraState());

    /// <summary>Continues from a checkpoint's state (weights and optimizers are loaded by <see cref="TrainingCheckpoint.Load"/>).</summary>
    public void Restore(TrainingState state)
    {
        Step = state.Step;
        Data.Seek(state.Epoch, state.Position);
        Rng.SetState(state.Rng);
        RestoreExtra(state.Extra);
    }

    /// <summary>A loop's own state beyond the data flow's place (ZPPO's replay buffer), as text a checkpoint keeps; null: none.</summary>
    protected virtual Dictionary<string, string>? ExtraState() => null;

    /// <summary>Restores what <see cref="ExtraState"/> saved (null from a checkpoint that has none).</summary>
    protected virtual void RestoreExtra(Dictionary<string, string>? extra) { }

    /// <summary>Models trained beside the policy (RIL's discriminator), saved in the same checkpoints.</summary>
    public virtual IReadOnlyList<CheckpointPart> CheckpointParts => [];
}

/// <summary>
/// The RL loop, four steps per batch (docs/spec/MAYE.md): questions → G responses each → trajectory (log-probs, masks,
/// rewards, advantages) → policy update.
/// </summary>
public sealed class RlTrainer : StepTrainer
{
    public ResponseCollector Collector { get; }
    public TrajectoryBuilder Trajectories { get; }
    public PolicyUpdater Updater { get; }

    public RlTrainer(RlConfig config, DataFlow data, ResponseCollector collector, TrajectoryBuilder trajectories, PolicyUpdater updater)
        : base(config, data)
    {
        (Collector, Trajectories, Updater) = (collector, trajectories, updater);
    }

    protected override StepMetrics TakeStep()
    {
        using var scope = TensorScope.Begin();
        var questions = Data.Next(Config.QuestionsPerStep);                                       // 1. data flow
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var rollouts = Collector.Collect(questions, Config.Seed + (ulong)Step);                   // 2. response collection
        double rolloutSeconds = sw.Elapsed.TotalSeconds;
        var trajectory = Trajectories.Build(questions, rollouts, Config.GroupSize);               // 3. trajectory generation
        var update = Updater.Update(trajectory, Rng);                                             // 4. policy update
        return Metrics(trajectory, update, rolloutSeconds);
    }

    StepMetrics Metrics(Trajectory tr, UpdateStats update, double rolloutSeconds)
    {
        var s = RolloutStatistics.Of(tr, World.Current);                                          // over the global batch
        return new StepMetrics(Step + 1, s.Reward, s.RewardByName, s.ResponseLength, s.LengthClipRatio, s.EndTokenShare, s.Entropy,
            tr.ZeroVarianceShare, update, rolloutSeconds, tr.LogProbSeconds, tr.RewardSeconds,
            s.GeneratedTokens / Math.Max(rolloutSeconds, 1e-9), update.Tokens / Math.Max(update.Seconds, 1e-9));
    }
}

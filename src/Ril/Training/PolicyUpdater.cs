using Ril.Tensors;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>What one update did, averaged over its micro-batches.</summary>
public sealed record UpdateStats(float Loss, float PolicyLoss, float Kl, float ClipFraction, float MeanRatio, float ApproxKl,
    float GradNorm, float LearningRate, int OptimizerSteps, int SkippedSteps, double Seconds, long Tokens);

/// <summary>
/// Step 4 of the pipeline: for each PPO epoch, shuffle the rows, split them into mini-batches (one optimizer step each)
/// and micro-batches (gradient accumulation), recompute log-probs with gradient, loss, backward, clip, step.
/// A non-finite loss or gradient norm skips the optimizer step; too many in a row stop the run.
/// </summary>
public sealed class PolicyUpdater(Policy policy, Optimizer optimizer, RlConfig config, LrSchedule? schedule = null)
{
    public Optimizer Optimizer { get; } = optimizer;
    public int BadStepsInARow { get; private set; }

    public UpdateStats Update(Trajectory tr, Rng rng)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int L = tr.MaxLength, microPerMini = config.MiniBatchSize / config.MicroBatchSize;
        float batchValidTokens = tr.ValidTokens;
        double loss = 0, pol = 0, kl = 0, clip = 0, ratio = 0, approx = 0, norm = 0;
        int micro = 0, steps = 0, skipped = 0;
        long tokens = 0;
        bool perToken = tr.Advantages.Length == tr.Rollouts.Count * L;
        for (int epoch = 0; epoch < config.PpoEpochs; epoch++)
        {
            var order = (int[])tr.TrainRows.Clone();
            rng.Shuffle(order);
            for (int mini = 0; mini < order.Length; mini += config.MiniBatchSize)
            {
                var miniRows = order[mini..Math.Min(order.Length, mini + config.MiniBatchSize)];
                bool finite = true;
                for (int m = 0; m < miniRows.Length; m += config.MicroBatchSize)
                {
                    var rows = miniRows[m..Math.Min(miniRows.Length, m + config.MicroBatchSize)];
                    using var scope = TensorScope.Begin();
                    var batch = Slice(tr, rows, perToken, microPerMini, batchValidTokens);
                    var logp = ResponseLogProbs.Compute(policy, rows.Select(r => TrajectoryBuilder.Row(tr.Questions, tr.Rollouts[r], L)).ToList(), L).LogProbs;
                    var (l, s) = PolicyLoss.Compute(config.Objective, logp, batch, config.ClipLow, config.ClipHigh, config.KlCoef);
                    if (!float.IsFinite(s.Loss)) { finite = false; continue; }
                    l.Backward();
                    loss += s.Loss; pol += s.PolicyLoss; kl += s.Kl; clip += s.ClipFraction; ratio += s.MeanRatio; approx += s.ApproxKl;
                    micro++;
                    tokens += (long)batch.Mask.Sum();
                }
                schedule?.Apply(Optimizer, Optimizer.StepCount);
                float gradNorm = GradClip.ClipByGlobalNorm(Optimizer.AllParameters, config.GradClip);
                if (!finite || !float.IsFinite(gradNorm))
                {
                    skipped++;
                    if (++BadStepsInARow >= config.MaxBadSteps)
                        throw new NonFiniteTrainingException($"{BadStepsInARow} optimizer steps in a row had a non-finite loss or gradient; stopping (the last checkpoint is intact)");
                }
                else
                {
                    Optimizer.Step();
                    BadStepsInARow = 0;
                    steps++;
                    norm += gradNorm;
                }
                Optimizer.ZeroGrad();
            }
        }
        double n = Math.Max(micro, 1);
        return new UpdateStats((float)(loss / n), (float)(pol / n), (float)(kl / n), (float)(clip / n), (float)(ratio / n), (float)(approx / n),
            (float)(norm / Math.Max(steps, 1)), Optimizer.LearningRate, steps, skipped, sw.Elapsed.TotalSeconds, tokens);
    }

    /// <summary>The loss inputs of some rows: their old/ref log-probs, masks and advantages.</summary>
    static PolicyBatch Slice(Trajectory tr, int[] rows, bool perToken, int accumulation, float batchValidTokens)
    {
        int L = tr.MaxLength;
        float[] Take(float[] src, int width) { var d = new float[rows.Length * width]; for (int i = 0; i < rows.Length; i++) Array.Copy(src, rows[i] * width, d, i * width, width); return d; }
        return new PolicyBatch(Take(tr.OldLogProbs, L), tr.RefLogProbs is null ? null : Take(tr.RefLogProbs, L), Take(tr.Mask, L),
            perToken ? Take(tr.Advantages, L) : Take(tr.Advantages, 1), rows.Length, L, accumulation, batchValidTokens);
    }
}

/// <summary>Training stopped because its numbers stopped being finite.</summary>
public sealed class NonFiniteTrainingException(string message) : Exception(message);

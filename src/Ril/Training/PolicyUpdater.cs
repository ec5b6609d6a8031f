using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Distributed;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>What one update did, averaged over its micro-batches.</summary>
/// <param name="AllReduceSeconds">Of <paramref name="Seconds"/>, the time spent waiting for the gradient sums over processes
/// after backward (what overlap did not hide, waiting for the slowest process included); 0 in a single process.</param>
/// <param name="TeacherTokens">Teacher tokens that entered the loss, over all micro-batches (each epoch counts).</param>
/// <param name="TeacherWeight">Their mean weight on ∇log π (<see cref="PolicyLossStats.TeacherWeight"/>).</param>
/// <param name="ForwardPositions">Positions the update's forwards computed on this process (padding included; trainer.pack and trainer.share_prompt lower it).</param>
/// <param name="SequencePositions">Of those, the positions of prompts and responses (with trainer.share_prompt, each question's prompt once).</param>
public sealed record UpdateStats(float Loss, float PolicyLoss, float Kl, float ClipFraction, float MeanRatio, float ApproxKl,
    float GradNorm, float LearningRate, int OptimizerSteps, int SkippedSteps, double Seconds, long Tokens, double AllReduceSeconds = 0,
    long TeacherTokens = 0, float TeacherWeight = 0, long ForwardPositions = 0, long SequencePositions = 0);

/// <summary>
/// Step 4 of the pipeline: for each PPO epoch, shuffle the rows, split them into mini-batches (one optimizer step each)
/// and micro-batches (gradient accumulation), recompute log-probs with gradient, loss, backward, clip, step.
/// A non-finite loss or gradient norm skips the optimizer step; too many in a row stop the run.
/// In a data-parallel run (<paramref name="world"/> of several processes) the mini- and micro-batches are cut from the
/// global batch exactly as one process would cut them; each process runs the rows it holds with the whole micro-batch's
/// normaliser, the gradients are summed over processes in buckets started during the last backward of each mini-batch
/// (<see cref="GradientBuckets"/>), and every process takes the same optimizer step. Statistics are pooled token sums,
/// so they are those of the global batch.
/// </summary>
public sealed class PolicyUpdater(ChatModel policy, Optimizer optimizer, RlConfig config, LrSchedule? schedule = null, ICommunicator? world = null)
{
    readonly ICommunicator _world = world ?? World.Current;
    GradientBuckets? _buckets;                  // made by the first update of a data-parallel run

    public Optimizer Optimizer { get; } = optimizer;
    /// <summary>How teacher rows enter the loss (RIL's <see cref="RilConfig.TeacherTokens"/>); the paper's by default.</summary>
    public TeacherTerm TeacherTerm { get; set; } = TeacherTerm.Published;
    public int BadStepsInARow { get; private set; }

    // Pooled per micro-batch: the loss (its parts sum to it), token sums of the statistics, valid tokens, and a non-finite flag.
    const int LossSum = 0, PolicySum = 1, KlSum = 2, ClipSum = 3, RatioSum = 4, ApproxKlSum = 5, Tokens = 6, NonFinite = 7, TeacherTokenSum = 8, TeacherWeightSum = 9, Slots = 10;

    public UpdateStats Update(Trajectory tr, Rng rng)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        if (_world.Size > 1 && _buckets is null)
        {
            GradientSync.BroadcastParameters(Optimizer.AllParameters, _world);   // one starting point on every process
            _buckets = new GradientBuckets(Optimizer.AllParameters, _world);
        }
        double allReduceSeconds = 0;
        int L = tr.MaxLength, microPerMini = config.MiniBatchSize / config.MicroBatchSize;
        var global = GlobalRows.Of(tr, _world);
        float batchValidTokens = global.ValidTokens;
        double loss = 0, pol = 0, kl = 0, clip = 0, ratio = 0, approx = 0, norm = 0, teacherTokens = 0, teacherWeight = 0;
        int micro = 0, steps = 0, skipped = 0;
        long tokens = 0, forwardPositions = 0, sequencePositions = 0;
        bool perToken = tr.Advantages.Length == tr.Rollouts.Count * L;
        for (int epoch = 0; epoch < config.PpoEpochs; epoch++)
        {
            var order = (int[])global.Train.Clone();
            rng.Shuffle(order);
            for (int mini = 0; mini < order.Length; mini += config.MiniBatchSize)
            {
                var miniRows = order[mini..Math.Min(order.Length, mini + config.MiniBatchSize)];
                if (config.SharePrompt) Array.Sort(miniRows);                           // a question's rows are consecutive: its micro-batches share its prompt
                var microBatches = miniRows.Chunk(config.MicroBatchSize).ToArray();
                int lastHere = Array.FindLastIndex(microBatches, rows => global.LocalOf(rows).Length > 0);
                var pooled = new double[microBatches.Length * Slots];
                for (int m = 0; m < microBatches.Length; m++)
                {
                    var microRows = microBatches[m];
                    var rows = global.LocalOf(microRows);
                    if (rows.Length == 0) continue;                                     // other processes hold this micro-batch
                    if (m == lastHere) _buckets?.StartDuringNextBackward();              // its backward finishes this step's gradients here
                    using var scope = TensorScope.Begin();
                    // CHORD's teacher rows are outside the RL term: its B and Σ M are the student's rows'; the auxiliary NLL's the teachers'.
                    bool chord = TeacherTerm.Mode == TeacherTokens.Chord;
                    var rlRows = chord ? microRows.Where(r => !global.Teacher[r]).ToArray() : microRows;
                    var batch = Slice(tr, rows, perToken, microPerMini, batchValidTokens) with
                    {
                        MicroBatchRows = Math.Max(1, rlRows.Length), MicroBatchTokens = global.TokensOf(rlRows),
                        MicroBatchTeacherTokens = global.TokensOf(microRows.Where(r => global.Teacher[r]).ToArray()),
                    };
                    var logRows = rows.Select(r => TrajectoryBuilder.Row(tr.Questions, tr.Rollouts[r], L)).ToList();
                    var logp = ResponseLogProbs.Compute(policy, logRows, L, pack: config.Pack, sharePrompt: config.SharePrompt).LogProbs;
                    var (forward, sequence) = ResponseLogProbs.Layout.Positions(logRows, L, config.Pack, config.SharePrompt);
                    (forwardPositions, sequencePositions) = (forwardPositions + forward, sequencePositions + sequence);
                    var (l, s) = PolicyLoss.Compute(config.Objective, logp, batch, config.ClipLow, config.ClipHigh, config.KlCoef, TeacherTerm);
                    var slots = pooled.AsSpan(m * Slots, Slots);
                    if (!float.IsFinite(s.Loss)) { slots[NonFinite] = 1; continue; }
                    l.Backward();
                    double n = batch.Mask.Sum();
                    (slots[LossSum], slots[PolicySum], slots[KlSum], slots[ClipSum], slots[RatioSum], slots[ApproxKlSum], slots[Tokens]) =
                        (s.Loss, s.PolicyLoss * n, s.Kl * n, s.ClipFraction * n, s.MeanRatio * n, s.ApproxKl * n, n);
                    (slots[TeacherTokenSum], slots[TeacherWeightSum]) = (s.TeacherTokens, s.TeacherWeight * s.TeacherTokens);
                }
                if (_buckets is not null) allReduceSeconds += _buckets.Finish();        // before any other collective
                _world.AllReduceSum(pooled);
                bool finite = true;
                for (int m = 0; m < microBatches.Length; m++)
                {
                    var p = pooled.AsSpan(m * Slots, Slots);
                    if (p[NonFinite] != 0) { finite = false; continue; }
                    double t = Math.Max(p[Tokens], 1);                                // token means of the whole micro-batch
                    loss += p[LossSum]; pol += p[PolicySum] / t; kl += p[KlSum] / t; clip += p[ClipSum] / t; ratio += p[RatioSum] / t; approx += p[ApproxKlSum] / t;
                    micro++;
                    tokens += (long)p[Tokens];
                    teacherTokens += p[TeacherTokenSum]; teacherWeight += p[TeacherWeightSum];
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
        double count = Math.Max(micro, 1);
        return new UpdateStats((float)(loss / count), (float)(pol / count), (float)(kl / count), (float)(clip / count), (float)(ratio / count), (float)(approx / count),
            (float)(norm / Math.Max(steps, 1)), Optimizer.LearningRate, steps, skipped, sw.Elapsed.TotalSeconds, tokens, allReduceSeconds,
            (long)teacherTokens, teacherTokens == 0 ? 0 : (float)(teacherWeight / teacherTokens), forwardPositions, sequencePositions);
    }

    /// <summary>The loss inputs of some of this process's rows: their old/ref log-probs, masks and advantages.</summary>
    static PolicyBatch Slice(Trajectory tr, int[] rows, bool perToken, int accumulation, float batchValidTokens)
    {
        int L = tr.MaxLength;
        float[] Take(float[] src, int width) { var d = new float[rows.Length * width]; for (int i = 0; i < rows.Length; i++) Array.Copy(src, rows[i] * width, d, i * width, width); return d; }
        return new PolicyBatch(Take(tr.OldLogProbs, L), tr.RefLogProbs is null ? null : Take(tr.RefLogProbs, L), Take(tr.Mask, L),
            perToken ? Take(tr.Advantages, L) : Take(tr.Advantages, 1), rows.Length, L, accumulation, batchValidTokens,
            Teacher: tr.Rollouts.Any(r => r.IsTeacher) ? rows.Select(r => tr.Rollouts[r].IsTeacher).ToArray() : null);
    }
}

/// <summary>Training stopped because its numbers stopped being finite.</summary>
public sealed class NonFiniteTrainingException(string message) : Exception(message);

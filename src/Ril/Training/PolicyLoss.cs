using Ril.Tensors;

namespace Ril.Training;

/// <summary>What one micro-batch's policy loss needs besides the current log-probs.</summary>
/// <param name="OldLogProbs">π_old log-probs [B·L] (the sampling policy's, recomputed before the update).</param>
/// <param name="RefLogProbs">Frozen reference log-probs [B·L], or null when β = 0.</param>
/// <param name="Mask">1 on valid response tokens [B·L].</param>
/// <param name="Advantages">Per response [B], or per token [B·L] (reinforce_pp).</param>
/// <param name="MaxLength">L, the configured maximum response length (dr_grpo and ril divide by B·L).</param>
/// <param name="AccumulationSteps">Micro-batches per optimizer step: every aggregate but dapo's is divided by it.</param>
/// <param name="BatchValidTokens">dapo: valid tokens of the whole generation batch.</param>
/// <param name="MicroBatchRows">B of the aggregation when these rows are one process's part of a micro-batch shared by
/// several: the micro-batch's rows over all processes (0: <paramref name="Rows"/>).</param>
/// <param name="MicroBatchTokens">Likewise Σ M over the whole micro-batch, for bnpo and reinforce_pp (null: the sum of <paramref name="Mask"/>).</param>
/// <param name="Teacher">Per row, whether it is a teacher's response (RIL); null: none is.</param>
/// <param name="MicroBatchTeacherTokens">CHORD: Σ M over the teacher rows of the whole micro-batch (null: of these rows).</param>
public sealed record PolicyBatch(float[] OldLogProbs, float[]? RefLogProbs, float[] Mask, float[] Advantages, int Rows, int MaxLength,
    int AccumulationSteps = 1, float BatchValidTokens = 0, int MicroBatchRows = 0, float? MicroBatchTokens = null,
    bool[]? Teacher = null, float? MicroBatchTeacherTokens = null);

/// <summary>How teacher rows enter the loss (docs/spec/RIL.md "Teacher tokens"): the mode and its constant (γ of shaped, µ of chord).</summary>
public sealed record TeacherTerm(TeacherTokens Mode, float Gamma = 0.1f, float Mu = 0.1f)
{
    public static readonly TeacherTerm Published = new(TeacherTokens.Published);
}

/// <summary>Scalars of one loss evaluation, for the metrics of docs/spec/MAYE.md.</summary>
/// <param name="TeacherTokens">Valid teacher tokens that entered the loss.</param>
/// <param name="TeacherWeight">Their mean weight on ∇log π (published: ρ·|A| where unclipped, shaped: γρ/(ρ+γ)²·|A|, chord: µφ).</param>
public sealed record PolicyLossStats(float Loss, float PolicyLoss, float Kl, float ClipFraction, float MeanRatio, float ApproxKl,
    float TeacherTokens = 0, float TeacherWeight = 0);

/// <summary>
/// The clipped policy-gradient loss of docs/spec/LOSSES.md:
/// ℓ_{i,t} = −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A) + β·k3,  ρ = exp(logp − logp_old),
/// k3 = exp(ref − logp) − (ref − logp) − 1, aggregated per <see cref="Objective"/>. Teacher rows follow <see cref="TeacherTerm"/>.
/// </summary>
public static class PolicyLoss
{
    public static (Tensor Loss, PolicyLossStats Stats) Compute(Objective objective, Tensor logProbs, PolicyBatch b, float epsLow, float epsHigh, float beta,
        TeacherTerm? teacherTerm = null)
    {
        var term = teacherTerm ?? TeacherTerm.Published;
        var mode = b.Teacher is null ? TeacherTokens.Published : term.Mode;
        int n = b.Rows * b.MaxLength;
        if (logProbs.Length != n || b.OldLogProbs.Length != n || b.Mask.Length != n)
            throw new ArgumentException($"PolicyLoss: log-probs {logProbs.Length}, old {b.OldLogProbs.Length}, mask {b.Mask.Length} must all be rows·L = {n}");
        bool perToken = b.Advantages.Length == n;
        if (!perToken && b.Advantages.Length != b.Rows) throw new ArgumentException($"PolicyLoss: {b.Advantages.Length} advantages for {b.Rows} rows of {b.MaxLength} tokens");
        if (beta != 0 && b.RefLogProbs is null) throw new ArgumentException("PolicyLoss: β ≠ 0 needs reference log-probs");

        if (b.Teacher is not null && b.Teacher.Length != b.Rows) throw new ArgumentException($"PolicyLoss: {b.Teacher.Length} teacher flags for {b.Rows} rows");

        // Per token: 1 on the rows the clipped objective covers, 1 on teacher rows given the mode's own term.
        // Only shaped and chord give teacher rows a term of their own: the published objective needs no masks.
        var (onPolicy, teacherRows) = mode is TeacherTokens.Shaped or TeacherTokens.Chord ? RowMasks(b) : ([], []);
        var oldValues = b.OldLogProbs;
        if (mode == TeacherTokens.Shaped)                                                    // LUFFY: π_old := 1 on teacher tokens (docs/spec/RIL.md)
        {
            oldValues = (float[])oldValues.Clone();
            for (int j = 0; j < n; j++) if (teacherRows[j] != 0) oldValues[j] = 0f;
        }
        var logp = Ops.Reshape(logProbs, b.Rows, b.MaxLength);
        var old = Tensor.FromArray(oldValues, b.Rows, b.MaxLength);
        var mask = Tensor.FromArray(b.Mask, b.Rows, b.MaxLength);
        var adv = perToken ? Tensor.FromArray(b.Advantages, b.Rows, b.MaxLength) : Tensor.FromArray(b.Advantages, b.Rows, 1);

        var ratio = Ops.Exp(Ops.Sub(logp, old));                                             // ρ = exp(logp − logp_old)
        var unclipped = Ops.Mul(ratio, adv);
        var clipped = Ops.Mul(Ops.Clamp(ratio, 1f - epsLow, 1f + epsHigh), adv);
        var policyTerm = Ops.MulScalar(Ops.Minimum(unclipped, clipped), -1f);                 // −min(ρA, clip(ρ)A)
        Tensor? teacherLoss = null;
        var (gamma, mu) = (term.Gamma, term.Mu);
        if (mode == TeacherTokens.Shaped)
        {
            var shaped = Ops.MulScalar(Ops.Mul(Ops.Div(ratio, Ops.AddScalar(ratio, gamma)), adv), -1f);   // −f(ρ)·A, f(ρ) = ρ/(ρ+γ), unclipped
            policyTerm = Ops.Add(Ops.Mul(policyTerm, Tensor.FromArray(onPolicy, b.Rows, b.MaxLength)),
                                 Ops.Mul(shaped, Tensor.FromArray(teacherRows, b.Rows, b.MaxLength)));
        }
        else if (mode == TeacherTokens.Chord)
        {
            var phi = new float[n];                                                           // φ = p(1−p), no gradient
            for (int j = 0; j < n; j++) { float p = MathF.Exp(logProbs.Data[j]); phi[j] = teacherRows[j] * b.Mask[j] * p * (1 - p); }
            float teacherTokens = b.MicroBatchTeacherTokens ?? Masked(b.Mask, teacherRows);
            var nll = Ops.SumAll(Ops.Mul(logp, Tensor.FromArray(phi, b.Rows, b.MaxLength)));   // Σ φ·log p over teacher tokens
            teacherLoss = Ops.MulScalar(nll, -mu / (Math.Max(teacherTokens, 1f) * b.AccumulationSteps));   // µ·L_SFT-φ, a token mean
            policyTerm = Ops.Mul(policyTerm, Tensor.FromArray(onPolicy, b.Rows, b.MaxLength));
        }
        if (mode == TeacherTokens.Chord && b.MicroBatchRows == 0)                           // the RL term's B and Σ M count the student's rows only
            b = b with { MicroBatchRows = Math.Max(1, b.Teacher!.Count(t => !t)), MicroBatchTokens = b.MicroBatchTokens ?? Masked(b.Mask, onPolicy) };
        var perTokenLoss = policyTerm;
        Tensor? kl = null;
        if (beta != 0)
        {
            var diff = Ops.Sub(Tensor.FromArray(b.RefLogProbs!, b.Rows, b.MaxLength), logp);  // ref − logp
            kl = Ops.AddScalar(Ops.Sub(Ops.Exp(diff), diff), -1f);                             // k3 = e^d − d − 1
            perTokenLoss = Ops.Add(policyTerm, Ops.MulScalar(kl, beta));
        }
        var loss = Aggregate(objective, Ops.Mul(perTokenLoss, mask), b);
        if (teacherLoss is not null) loss = Ops.Add(Ops.MulScalar(loss, 1f - mu), teacherLoss);         // (1−µ)·L_RL + µ·L_SFT-φ
        var stats = Stats(loss, policyTerm, kl, ratio, unclipped, clipped, logp, old, b);
        if (b.Teacher is null) return (loss, stats);
        var (tokens, weight) = TeacherWeights(mode, b, logp, ratio, unclipped, clipped, gamma, mu);
        return (loss, stats with { TeacherTokens = tokens, TeacherWeight = weight });
    }

    /// <summary>Per token [B·L]: the rows under the clipped objective, and the teacher rows with a term of their own (shaped, chord).</summary>
    static (float[] OnPolicy, float[] TeacherRows) RowMasks(PolicyBatch b)
    {
        int n = b.Rows * b.MaxLength;
        var on = new float[n];
        var teacher = new float[n];
        for (int i = 0; i < b.Rows; i++) (b.Teacher![i] ? teacher : on).AsSpan(i * b.MaxLength, b.MaxLength).Fill(1f);
        return (on, teacher);
    }

    static float Masked(float[] mask, float[] rows) { float s = 0; for (int j = 0; j < mask.Length; j++) s += mask[j] * rows[j]; return s; }

    /// <summary>The teacher tokens in the loss and the mean magnitude of the weight their ∇log π gets (before the aggregate's constant).</summary>
    static (float Tokens, float Weight) TeacherWeights(TeacherTokens mode, PolicyBatch b, Tensor logp, Tensor ratio, Tensor unclipped, Tensor clipped, float gamma, float mu)
    {
        double tokens = 0, weight = 0;
        for (int i = 0; i < b.Rows; i++)
        {
            if (!b.Teacher![i]) continue;
            for (int t = 0; t < b.MaxLength; t++)
            {
                int j = i * b.MaxLength + t;
                if (b.Mask[j] == 0) continue;
                float a = Math.Abs(b.Advantages.Length == b.Mask.Length ? b.Advantages[j] : b.Advantages[i]);
                float rho = ratio.Data[j];
                tokens++;
                weight += mode switch
                {
                    TeacherTokens.Shaped => gamma * rho / ((rho + gamma) * (rho + gamma)) * a,      // d f(ρ)/d log π = γρ/(ρ+γ)²
                    TeacherTokens.Chord => mu * MathF.Exp(logp.Data[j]) * (1 - MathF.Exp(logp.Data[j])),   // µ·φ, φ = p(1−p)
                    _ => clipped.Data[j] < unclipped.Data[j] ? 0 : rho * a,                        // the clipped branch passes no gradient
                };
            }
        }
        return ((float)tokens, tokens == 0 ? 0 : (float)(weight / tokens));
    }

    /// <summary>
    /// The variant's reduction of masked per-token terms [B, L] (docs/spec/LOSSES.md table). B and Σ M are the whole
    /// micro-batch's, so that the parts of a micro-batch shared by processes sum to the loss of the micro-batch.
    /// </summary>
    static Tensor Aggregate(Objective objective, Tensor masked, PolicyBatch b)
    {
        float k = b.AccumulationSteps;
        int rows = b.MicroBatchRows > 0 ? b.MicroBatchRows : b.Rows;
        float tokens = b.MicroBatchTokens ?? b.Mask.Sum();
        switch (objective)
        {
            case Objective.Grpo:
            {
                // (1/B) Σ_i (Σ_t m ℓ) / max(M_i, 1)
                var lengths = new float[b.Rows];
                for (int i = 0; i < b.Rows; i++)
                {
                    float m = 0;
                    for (int t = 0; t < b.MaxLength; t++) m += b.Mask[i * b.MaxLength + t];
                    lengths[i] = Math.Max(m, 1f);
                }
                var perRow = Ops.Div(Ops.Sum(masked, 1), Tensor.FromArray(lengths, b.Rows));
                return Ops.MulScalar(Ops.SumAll(perRow), 1f / (rows * k));
            }
            case Objective.Bnpo:
                return Ops.MulScalar(Ops.SumAll(masked), 1f / (Math.Max(tokens, 1f) * k));                // Σ m ℓ / max(Σ M_i, 1)
            case Objective.DrGrpo:
            case Objective.Ril:
                return Ops.MulScalar(Ops.SumAll(masked), 1f / (rows * (float)b.MaxLength * k));         // Σ m ℓ / (B·L)
            case Objective.Dapo:
                if (b.BatchValidTokens <= 0) throw new ArgumentException("PolicyLoss: dapo needs the generation batch's valid-token count");
                return Ops.MulScalar(Ops.SumAll(masked), 1f / b.BatchValidTokens);                     // already global: no 1/k
            case Objective.ReinforcePP:
                return Ops.MulScalar(Ops.SumAll(masked), 1f / (Math.Max(tokens, 1f) * k));             // masked token mean
            default:
                throw new ArgumentOutOfRangeException(nameof(objective));
        }
    }

    static PolicyLossStats Stats(Tensor loss, Tensor policyTerm, Tensor? kl, Tensor ratio, Tensor unclipped, Tensor clipped, Tensor logp, Tensor old, PolicyBatch b)
    {
        double tokens = 0, pol = 0, klSum = 0, clip = 0, ratioSum = 0, approx = 0;
        var m = b.Mask;
        for (int j = 0; j < m.Length; j++)
        {
            if (m[j] == 0) continue;
            tokens++;
            pol += policyTerm.Data[j];
            if (kl is not null) klSum += kl.Data[j];
            if (clipped.Data[j] < unclipped.Data[j]) clip++;                        // the clipped branch is the active one
            ratioSum += ratio.Data[j];
            double d = logp.Data[j] - old.Data[j];
            approx += 0.5 * d * d;                                                    // MAYE's approx. policy KL ½(logp − logp_old)²
        }
        double t = Math.Max(tokens, 1);
        return new PolicyLossStats(loss.Item(), (float)(pol / t), (float)(klSum / t), (float)(clip / t), (float)(ratioSum / t), (float)(approx / t));
    }
}

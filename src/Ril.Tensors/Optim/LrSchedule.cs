namespace Ril.Tensors.Optim;

/// <summary>Learning rate as a function of the step (0-based), applied to an optimizer before each step.</summary>
public abstract record LrSchedule(float BaseLr)
{
    public abstract float At(long step);
    public void Apply(Optimizer optimizer, long step) => optimizer.LearningRate = At(step);
}

/// <summary>The same rate at every step (RIL's student and discriminator, lr 1e-6).</summary>
public sealed record ConstantLr(float BaseLr) : LrSchedule(BaseLr)
{
    public override float At(long step) => BaseLr;
}

/// <summary>Linear from BaseLr at step 0 to FinalLr at TotalSteps (RIL's SFT: 1e-5 → 1e-6), then FinalLr.</summary>
public sealed record LinearDecayLr(float BaseLr, float FinalLr, long TotalSteps) : LrSchedule(BaseLr)
{
    public override float At(long step) => step >= TotalSteps ? FinalLr : BaseLr + (FinalLr - BaseLr) * step / (float)TotalSteps;
}

/// <summary>Linear warm-up from 0 over WarmupSteps, then cosine decay to MinLr at TotalSteps (MAYE: 10% warm-up + cosine).</summary>
public sealed record WarmupCosineLr(float BaseLr, long WarmupSteps, long TotalSteps, float MinLr = 0f) : LrSchedule(BaseLr)
{
    public override float At(long step)
    {
        if (step < WarmupSteps) return BaseLr * (step + 1) / WarmupSteps;
        if (step >= TotalSteps) return MinLr;
        double progress = (step - WarmupSteps) / (double)Math.Max(1, TotalSteps - WarmupSteps);
        return MinLr + (BaseLr - MinLr) * (float)(0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}

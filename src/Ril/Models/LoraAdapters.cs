using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Tensors.Autograd;

namespace Ril.Models;

/// <summary>One adapted projection: its frozen weight W₀ [out, in] and the trainable A [r, in] and B [out, r].</summary>
public sealed class LoraAdapter
{
    /// <summary>The module's Hugging Face name, e.g. "model.layers.0.self_attn.q_proj".</summary>
    public string Module { get; }
    public Tensor BaseWeight { get; }
    public Tensor A { get; }
    public Tensor B { get; }

    /// <summary>A new adapter as PEFT initialises one: A Kaiming-uniform (a = √5, so U(−1/√in, 1/√in)), B zero, so the update starts at 0.</summary>
    public LoraAdapter(string module, Tensor baseWeight, int rank, Rng rng)
    {
        int outFeatures = baseWeight.Shape[0], inFeatures = baseWeight.Shape[1];
        float bound = 1f / MathF.Sqrt(inFeatures);   // torch's kaiming_uniform_(a=√5): gain √(2/(1+5)) · √(3/fan_in)
        (Module, BaseWeight) = (module, baseWeight);
        A = Tensor.Uniform(rng, -bound, bound, rank, inFeatures).AsParameter(module + ".lora_A.weight");
        B = Tensor.Zeros(outFeatures, rank).AsParameter(module + ".lora_B.weight");
    }
}

/// <summary>
/// LoRA adapters on a decoder's projections (Hu et al. 2021). Attaching them freezes every base parameter, so only the
/// adapters train; <see cref="Disabled"/> switches them off, which turns the model back into its base — the KL reference
/// without a second copy of the weights. <see cref="Merge"/> folds them into float32 base weights for export;
/// <see cref="PeftAdapter"/> saves and loads them in PEFT's layout.
/// </summary>
public sealed class LoraAdapters
{
    readonly Dictionary<Tensor, LoraAdapter> _byWeight = new(ReferenceEqualityComparer.Instance);
    /// <summary>Draws the adapters' dropout masks; activation recomputation rewinds it to redraw the same ones.</summary>
    internal Rng DropoutRng { get; }
    int _disabledDepth;

    public LoraConfig Config { get; }
    public DecoderLM Model { get; }
    /// <summary>In the order of the model's layers and, within a layer, of its parameters.</summary>
    public IReadOnlyList<LoraAdapter> All { get; }
    /// <summary>False inside a <see cref="Disabled"/> scope.</summary>
    public bool Enabled => _disabledDepth == 0;

    LoraAdapters(DecoderLM model, LoraConfig config, Rng rng)
    {
        config.Validate("LoRA config");
        (Model, Config, DropoutRng) = (model, config, rng.Fork());
        var all = new List<LoraAdapter>();
        foreach (var block in model.Layers)
            foreach (var weight in block.Parameters().Where(p => p.Rank == 2))
            {
                string module = weight.Name![..^".weight".Length];
                if (!config.Targets(module)) continue;
                var adapter = new LoraAdapter(module, weight, config.Rank, rng);
                _byWeight[weight] = adapter;
                all.Add(adapter);
            }
        if (all.Count == 0)
            throw new ArgumentException($"LoRA config: target_modules [{string.Join(", ", config.TargetModules)}] match no projection of the model (known: {string.Join(", ", LoraConfig.KnownModules)})");
        All = all;
    }

    /// <summary>
    /// Puts new adapters on the projections of <paramref name="model"/> that <paramref name="config"/> targets and freezes
    /// every base parameter of the model. A model carries at most one set of adapters.
    /// </summary>
    public static LoraAdapters Attach(DecoderLM model, LoraConfig config, Rng rng)
    {
        if (model.Adapters is not null) throw new InvalidOperationException("LoRA: this model already carries adapters; merge or detach them first");
        var adapters = new LoraAdapters(model, config, rng);
        foreach (var p in model.Parameters()) p.RequiresGrad = false;
        model.Adapters = adapters;
        return adapters;
    }

    /// <summary>Takes the adapters off the model, which computes as its base again (the base stays frozen).</summary>
    public void Detach()
    {
        RequireAttached();
        Model.Adapters = null;
    }

    void RequireAttached()
    {
        if (Model.Adapters != this) throw new InvalidOperationException("LoRA: these adapters are no longer on the model (merged or detached)");
    }

    /// <summary>The trainable tensors: A and B of every adapter.</summary>
    public IEnumerable<Tensor> Parameters() => All.SelectMany(a => new[] { a.A, a.B });

    /// <summary>A and B of the adapters on the projections of one block.</summary>
    internal IEnumerable<Tensor> ParametersOf(DecoderBlock block) =>
        block.Parameters().Where(_byWeight.ContainsKey).SelectMany(w => new[] { _byWeight[w].A, _byWeight[w].B });

    /// <summary>The adapter on <paramref name="weight"/>, if there is one and adapters are on.</summary>
    internal LoraAdapter? Active(Tensor weight) => Enabled && _byWeight.TryGetValue(weight, out var a) ? a : null;

    /// <summary>The update (α/r)·B·A·dropout(x) of one projection; dropout acts only while a gradient is being recorded.</summary>
    internal Tensor Update(LoraAdapter adapter, Tensor x)
    {
        var input = Config.Dropout > 0 && !NoGrad.IsActive ? Ops.Dropout(x, Config.Dropout, DropoutRng) : x;
        return Ops.LowRank(input, adapter.A, adapter.B, Config.Scaling);
    }

    /// <summary>Switches the adapters off until the returned handle is disposed (scopes nest): the model computes as its base.</summary>
    public DisabledScope Disabled()
    {
        _disabledDepth++;
        return new DisabledScope(this);
    }

    public readonly struct DisabledScope(LoraAdapters owner) : IDisposable
    {
        public void Dispose() => owner._disabledDepth--;
    }

    /// <summary>
    /// Folds every adapter into its base weight, W ← W + (α/r)·B·A, and takes the adapters off the model, which then
    /// computes exactly what it computed with them (up to float rounding) and exports as a plain checkpoint. Base weights
    /// must be float32: load the base without bf16 freezing to merge for export.
    /// </summary>
    public void Merge()
    {
        RequireAttached();
        var frozen = All.FirstOrDefault(a => a.BaseWeight.IsBf16);
        if (frozen is not null)
            throw new InvalidOperationException($"LoRA merge: base weight '{frozen.BaseWeight.Name}' is stored in bf16; load the base in float32 (no bf16 freezing), load the adapter, then merge");
        using (NoGrad.Begin())
            foreach (var a in All)
            {
                using var scope = Tensors.Memory.TensorScope.Begin();
                var delta = Ops.MulScalar(Ops.MatMul(a.B, a.A), Config.Scaling);   // [out, in]
                System.Numerics.Tensors.TensorPrimitives.Add(a.BaseWeight.Data, delta.Data, a.BaseWeight.Data);
            }
        Detach();
    }
}

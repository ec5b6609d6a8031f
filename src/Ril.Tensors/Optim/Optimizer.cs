using Ril.Tensors.IO;

namespace Ril.Tensors.Optim;

/// <summary>Base of the optimizers: parameter groups, a learning rate set by a schedule, and state that checkpoints can save.</summary>
public abstract class Optimizer
{
    public IReadOnlyList<ParameterGroup> Groups { get; }
    /// <summary>The learning rate of the next step (a schedule sets it before each step).</summary>
    public float LearningRate { get; set; }
    public long StepCount { get; protected set; }

    protected Optimizer(IReadOnlyList<ParameterGroup> groups, float lr)
    {
        Groups = groups;
        LearningRate = lr;
        var names = new HashSet<string>();
        foreach (var p in AllParameters)
        {
            if (!p.RequiresGrad) throw new ArgumentException($"Optimizer: parameter '{p.Name}' does not require grad");
            if (p.Name is null || !names.Add(p.Name)) throw new ArgumentException($"Optimizer: every parameter needs a unique name (state is saved by name); '{p.Name}' is {(p.Name is null ? "unnamed" : "repeated")}");
        }
    }

    public IEnumerable<Tensor> AllParameters => Groups.SelectMany(g => g.Parameters);

    /// <summary>Applies one update from the parameters' gradients (parameters without a gradient are skipped).</summary>
    public abstract void Step();

    public void ZeroGrad()
    {
        foreach (var p in AllParameters) p.ZeroGrad();
    }

    /// <summary>Bytes of optimizer state held now (AdamW: two float32 moments per trained value, once stepped).</summary>
    public long StateBytes => StateTensors().Sum(s => 4L * s.data.Length);

    /// <summary>Per-parameter state tensors by name, for saving.</summary>
    protected abstract IEnumerable<(string name, float[] data, int[] shape)> StateTensors();
    protected abstract void LoadStateTensor(string name, ReadOnlySpan<float> data);

    /// <summary>Writes step count and all state to a safetensors file (atomically: temporary file, then rename).</summary>
    public void Save(string path)
    {
        var tensors = StateTensors().Select(s => new SafeTensorEntry(s.name, s.shape, s.data)).ToList();
        var meta = new Dictionary<string, string> { ["optimizer"] = GetType().Name, ["step"] = StepCount.ToString() };
        SafeTensors.Write(path, tensors, meta);
    }

    public void Load(string path)
    {
        var file = SafeTensors.Read(path);
        if (file.Metadata.GetValueOrDefault("optimizer") != GetType().Name)
            throw new InvalidDataException($"{path}: optimizer state was written by '{file.Metadata.GetValueOrDefault("optimizer")}', not {GetType().Name}");
        StepCount = long.Parse(file.Metadata["step"]);
        foreach (var e in file.Tensors) LoadStateTensor(e.Name, e.Data);
    }
}

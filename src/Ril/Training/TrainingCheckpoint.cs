using System.Text.Json;
using Ril.Tensors;
using Ril.Tensors.Distributed;
using Ril.Tensors.IO;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>Where a run stands besides its weights and optimizer: enough to continue exactly.</summary>
public sealed record TrainingState(int Step, int Epoch, int Position, ulong[] Rng, Dictionary<string, string>? Extra = null);

/// <summary>A further trained model saved beside the policy in the same checkpoint (RIL's discriminator): NAME.safetensors and NAME.optimizer.safetensors.</summary>
public sealed record CheckpointPart(string Name, IEnumerable<Tensor> Parameters, Optimizer Optimizer);

/// <summary>
/// Checkpoints of a run: RUN/checkpoints/step-N/{model.safetensors, optimizer.safetensors, state.json}, and a pair of
/// files for each <see cref="CheckpointPart"/>. Each is written
/// into a temporary folder that is renamed when complete, so a crash never leaves a half-written checkpoint; only the
/// last K are kept. In a data-parallel run rank 0 alone writes (every process holds the same weights and state); every
/// process loads, so a run resumes with any number of processes as long as the global batch is unchanged.
/// </summary>
public static class TrainingCheckpoint
{
    const string Prefix = "step-";

    /// <summary>Writes a checkpoint (on rank 0; the other processes write nothing) and returns its folder.</summary>
    public static string Save(string runDir, IEnumerable<Tensor> parameters, Optimizer optimizer, TrainingState state, int keepLast = 3,
        IReadOnlyList<CheckpointPart>? parts = null)
    {
        var root = Path.Combine(runDir, "checkpoints");
        var final = Path.Combine(root, $"{Prefix}{state.Step:D6}");
        if (!World.IsRoot) return final;
        Directory.CreateDirectory(root);
        var tmp = Path.Combine(root, $".tmp-{Prefix}{state.Step:D6}-{Environment.ProcessId}");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        SafeTensors.Write(Path.Combine(tmp, "model.safetensors"),
            parameters.DistinctBy(p => p.Name).Select(p => new SafeTensorEntry(p.Name!, p.Shape, p.ToArray())).ToList());
        optimizer.Save(Path.Combine(tmp, "optimizer.safetensors"));
        foreach (var part in parts ?? [])
        {
            SafeTensors.Write(Path.Combine(tmp, $"{part.Name}.safetensors"),
                part.Parameters.DistinctBy(p => p.Name).Select(p => new SafeTensorEntry(p.Name!, p.Shape, p.ToArray())).ToList());
            part.Optimizer.Save(Path.Combine(tmp, $"{part.Name}.optimizer.safetensors"));
        }
        File.WriteAllText(Path.Combine(tmp, "state.json"), JsonSerializer.Serialize(state));
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        foreach (var old in List(runDir).SkipLast(Math.Max(1, keepLast))) Directory.Delete(old, true);
        foreach (var stale in Directory.GetDirectories(root, $".tmp-{Prefix}*")) Directory.Delete(stale, true);   // saves a kill cut short
        return final;
    }

    /// <summary>Complete checkpoints of a run, oldest first (temporary folders of a crashed save are ignored).</summary>
    public static List<string> List(string runDir)
    {
        var root = Path.Combine(runDir, "checkpoints");
        if (!Directory.Exists(root)) return [];
        return Directory.GetDirectories(root, Prefix + "*").Where(d => File.Exists(Path.Combine(d, "state.json"))).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Loads a checkpoint into the parameters and optimizer; returns its state.</summary>
    public static TrainingState Load(string checkpointDir, IEnumerable<Tensor> parameters, Optimizer optimizer, IReadOnlyList<CheckpointPart>? parts = null)
    {
        var statePath = Path.Combine(checkpointDir, "state.json");
        TrainingState state;
        try { state = JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(statePath)) ?? throw new InvalidDataException($"{statePath}: empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{statePath}:{e.LineNumber + 1}: {e.Message}", e); }
        var tensors = SafeTensors.Read(Path.Combine(checkpointDir, "model.safetensors")).Tensors.ToDictionary(t => t.Name);
        Models.Checkpoint.LoadInto(parameters.DistinctBy(p => p.Name), tensors, checkpointDir);
        optimizer.Load(Path.Combine(checkpointDir, "optimizer.safetensors"));
        foreach (var part in parts ?? [])
        {
            var path = Path.Combine(checkpointDir, $"{part.Name}.safetensors");
            if (!File.Exists(path)) throw new FileNotFoundException($"{checkpointDir}: the checkpoint has no {part.Name} (expected {part.Name}.safetensors)", path);
            Models.Checkpoint.LoadInto(part.Parameters.DistinctBy(p => p.Name), SafeTensors.Read(path).Tensors.ToDictionary(t => t.Name), path);
            part.Optimizer.Load(Path.Combine(checkpointDir, $"{part.Name}.optimizer.safetensors"));
        }
        return state;
    }
}

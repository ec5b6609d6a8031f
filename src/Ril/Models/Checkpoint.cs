using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Tensors;
using Ril.Tensors.IO;

namespace Ril.Models;

/// <summary>
/// Hugging Face model directories: config.json plus model.safetensors, or shards listed in
/// model.safetensors.index.json ({"weight_map": {tensor: file}}). Loading checks every parameter's presence and shape.
/// </summary>
public static class Checkpoint
{
    /// <summary>All tensors of a model directory (or of one .safetensors file), by name.</summary>
    public static Dictionary<string, SafeTensorEntry> ReadTensors(string path)
    {
        var result = new Dictionary<string, SafeTensorEntry>();
        if (File.Exists(path) && path.EndsWith(".safetensors"))
        {
            foreach (var t in SafeTensors.Read(path).Tensors) result[t.Name] = t;
            return result;
        }
        if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such model directory or .safetensors file");
        var index = Path.Combine(path, "model.safetensors.index.json");
        var single = Path.Combine(path, "model.safetensors");
        if (File.Exists(index))
        {
            JsonNode? map;
            try { map = JsonNode.Parse(File.ReadAllText(index))?["weight_map"]; }
            catch (JsonException e) { throw new InvalidDataException($"{index}:{e.LineNumber + 1}: {e.Message}", e); }
            if (map is not JsonObject weightMap) throw new InvalidDataException($"{index}: field 'weight_map' is missing or not an object");
            foreach (var file in weightMap.Select(kv => kv.Value?.GetValue<string>()).Distinct())
            {
                var shard = Path.Combine(path, file ?? throw new InvalidDataException($"{index}: field 'weight_map' has a null file"));
                if (!File.Exists(shard)) throw new FileNotFoundException($"{index} lists shard '{file}', which is not in {path}");
                foreach (var t in SafeTensors.Read(shard).Tensors) result[t.Name] = t;
            }
            foreach (var (name, _) in weightMap)
                if (!result.ContainsKey(name)) throw new InvalidDataException($"{index}: tensor '{name}' is not in the shard the weight_map names");
            return result;
        }
        if (File.Exists(single))
        {
            foreach (var t in SafeTensors.Read(single).Tensors) result[t.Name] = t;
            return result;
        }
        throw new FileNotFoundException($"{path}: neither model.safetensors nor model.safetensors.index.json is there");
    }

    /// <summary>
    /// Copies tensors into parameters by name. A missing or mis-shaped tensor is an error naming it with both shapes.
    /// Returns the names in the file that no parameter took (e.g. rotary caches), for the caller to report.
    /// </summary>
    public static List<string> LoadInto(IEnumerable<Tensor> parameters, IReadOnlyDictionary<string, SafeTensorEntry> tensors, string source)
    {
        var used = new HashSet<string>();
        foreach (var p in parameters)
        {
            if (!tensors.TryGetValue(p.Name!, out var t))
                throw new InvalidDataException($"{source}: tensor '{p.Name}' is missing (expected shape {ShapeOf.Format(p.Shape)})");
            if (!ShapeOf.Equal(t.Shape, p.Shape))
                throw new InvalidDataException($"{source}: tensor '{p.Name}' has shape {ShapeOf.Format(t.Shape)}, the model expects {ShapeOf.Format(p.Shape)}");
            t.Data.CopyTo(p.Data);
            used.Add(p.Name!);
        }
        return tensors.Keys.Where(k => !used.Contains(k)).OrderBy(k => k).ToList();
    }

    /// <summary>
    /// Loads a model directory's weights into <paramref name="parameters"/>: every parameter must be there with its shape,
    /// and every tensor of the checkpoint must find its parameter (a leftover means config.json does not match the weights).
    /// </summary>
    public static void LoadAll(IEnumerable<Tensor> parameters, string dir)
    {
        var unused = LoadInto(parameters, ReadTensors(dir), dir)
            .Where(name => !name.EndsWith("rotary_emb.inv_freq")).ToList();   // a buffer some exports include; Ril recomputes it
        if (unused.Count > 0)
            throw new InvalidDataException($"{dir}: {unused.Count} tensors fit no parameter of the configured model (first: '{unused[0]}'); does config.json match the weights?");
    }

    /// <summary>Writes config.json and model.safetensors into <paramref name="dir"/>, each atomically.</summary>
    public static void Save(string dir, JsonNode config, IEnumerable<Tensor> parameters)
    {
        Directory.CreateDirectory(dir);
        var entries = parameters.DistinctBy(p => p.Name).Select(p => new SafeTensorEntry(p.Name!, p.Shape, p.ToArray())).ToList();
        SafeTensors.Write(Path.Combine(dir, "model.safetensors"), entries, new Dictionary<string, string> { ["format"] = "pt" });
        var json = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.Write(Path.Combine(dir, "config.json"), s => s.Write(System.Text.Encoding.UTF8.GetBytes(json)));
    }
}

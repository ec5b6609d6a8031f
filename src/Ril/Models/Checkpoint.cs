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
        foreach (var file in WeightFiles(path, out _))
            foreach (var t in SafeTensors.Read(file).Tensors) result[t.Name] = t;
        return result;
    }

    /// <summary>
    /// The safetensors files of a model directory (model.safetensors, or the shards its index lists), or the one file
    /// <paramref name="path"/> names; <paramref name="weightMap"/> is the index's tensor → file map when there is one.
    /// </summary>
    static List<string> WeightFiles(string path, out JsonObject? weightMap)
    {
        weightMap = null;
        if (File.Exists(path) && path.EndsWith(".safetensors")) return [path];
        if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such model directory or .safetensors file");
        var index = Path.Combine(path, "model.safetensors.index.json");
        var single = Path.Combine(path, "model.safetensors");
        if (File.Exists(index))
        {
            JsonNode? map;
            try { map = JsonNode.Parse(File.ReadAllText(index))?["weight_map"]; }
            catch (JsonException e) { throw new InvalidDataException($"{index}:{e.LineNumber + 1}: {e.Message}", e); }
            if (map is not JsonObject objectMap) throw new InvalidDataException($"{index}: field 'weight_map' is missing or not an object");
            weightMap = objectMap;
            var files = new List<string>();
            foreach (var file in objectMap.Select(kv => kv.Value?.GetValue<string>()).Distinct())
            {
                var shard = Path.Combine(path, file ?? throw new InvalidDataException($"{index}: field 'weight_map' has a null file"));
                if (!File.Exists(shard)) throw new FileNotFoundException($"{index} lists shard '{file}', which is not in {path}");
                files.Add(shard);
            }
            return files;
        }
        if (File.Exists(single)) return [single];
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
    /// Each tensor is read straight from the file into the buffer that keeps it, the tensors in parallel. With <paramref name="keepBf16"/> (the caller will not train these weights, and every op that reads a
    /// matrix accepts bf16 storage), a BF16 matrix of the file becomes the parameter's frozen bf16 storage as it is
    /// (exact: widening a bf16 value to float32 loses nothing), never widened: half the memory. <paramref name="rename"/>
    /// maps a file's tensor name to the parameter's (one family, several released name layouts); tensors
    /// <paramref name="ignore"/> accepts are skipped (a tied checkpoint's copy of the head, say), as are rotary buffers.
    /// </summary>
    public static void LoadAll(IEnumerable<Tensor> parameters, string dir, bool keepBf16 = false, Func<string, string>? rename = null,
                               Func<string, bool>? ignore = null)
    {
        var files = WeightFiles(dir, out var weightMap);
        var readers = new List<SafeTensorsReader>();
        try
        {
            var where = new Dictionary<string, (SafeTensorsReader Reader, string Stored)>();
            foreach (var file in files)
            {
                var m = SafeTensors.Open(file);
                readers.Add(m);
                foreach (var name in m.Names)
                {
                    if (ignore?.Invoke(name) == true || name.EndsWith("rotary_emb.inv_freq")) continue;   // a buffer some exports include; Ril recomputes it
                    var as_ = rename?.Invoke(name) ?? name;
                    if (where.TryGetValue(as_, out var other) && other.Stored != name)
                        throw new InvalidDataException($"{dir}: tensors '{other.Stored}' and '{name}' are both parameter '{as_}' (two name layouts in one checkpoint)");
                    where[as_] = (m, name);
                }
            }
            if (weightMap is not null)
                foreach (var (name, _) in weightMap)
                    if (!readers.Any(r => r.Names.Contains(name))) throw new InvalidDataException($"{Path.Combine(dir, "model.safetensors.index.json")}: tensor '{name}' is not in the shard the weight_map names");
            var list = parameters.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().ToList();
            foreach (var p in list)
            {
                if (!where.TryGetValue(p.Name!, out var at))
                    throw new InvalidDataException($"{dir}: tensor '{p.Name}' is missing (expected shape {ShapeOf.Format(p.Shape)})");
                if (!ShapeOf.Equal(at.Reader.Shape(at.Stored), p.Shape))
                    throw new InvalidDataException($"{at.Reader.Path}: tensor '{at.Stored}' has shape {ShapeOf.Format(at.Reader.Shape(at.Stored))}, the model expects {ShapeOf.Format(p.Shape)}");
            }
            // Largest first, so the two halves of the work end together.
            try
            {
                Parallel.ForEach(list.OrderByDescending(p => p.Length), p =>
                {
                    var (m, stored) = where[p.Name!];
                    if (keepBf16 && p.Rank == 2 && m.Dtype(stored) == "BF16") p.LoadBf16(m.ReadBf16(stored));
                    else m.Read(stored, p.Data);
                });
            }
            catch (AggregateException e) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]); }   // the error that names the file
            var used = list.Select(p => p.Name!).ToHashSet();
            var unused = where.Where(kv => !used.Contains(kv.Key)).Select(kv => kv.Value.Stored).OrderBy(k => k).ToList();
            if (unused.Count > 0)
                throw new InvalidDataException($"{dir}: {unused.Count} tensors fit no parameter of the configured model (first: '{unused[0]}'); does config.json match the weights?");
        }
        finally { foreach (var m in readers) m.Dispose(); }
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

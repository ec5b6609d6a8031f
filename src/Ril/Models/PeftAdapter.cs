using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Tensors.IO;

namespace Ril.Models;

/// <summary>
/// LoRA adapters in Hugging Face PEFT's directory layout, so Python's <c>PeftModel.from_pretrained</c> reads what Ril
/// writes and the other way round: adapter_config.json (peft_type "LORA", r, lora_alpha, lora_dropout, target_modules,
/// bias "none", task_type, modules_to_save) and adapter_model.safetensors, whose tensors are named
/// "base_model.model." + module + ".lora_A.weight" ([r, in]) and ".lora_B.weight" ([out, r]), the module named by its
/// place in transformers' class (Qwen2-VL's decoder under "model.language_model.", though its checkpoints say "model.";
/// either is read); fully trained extra modules (a classifier's "score") are saved as "base_model.model." + their
/// parameter name. docs/RESULTS.md §10 has PEFT loading these files.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json", WeightsFile = "adapter_model.safetensors";
    /// <summary>PEFT's prefix: the PeftModel's base_model (a LoraModel) whose .model is the transformers model.</summary>
    public const string Prefix = "base_model.model.";

    /// <summary>PEFT's task_type of a causal LM (the student) and of a sequence classifier (the discriminator).</summary>
    public const string CausalLm = "CAUSAL_LM", SequenceClassification = "SEQ_CLS";

    /// <summary>
    /// Writes the adapters (and <paramref name="modulesToSave"/>, whole tensors such as the discriminator's score head) into
    /// <paramref name="dir"/>, each file atomically.
    /// </summary>
    public static void Save(string dir, LoraAdapters adapters, string taskType, string? baseModel = null, IReadOnlyList<Tensor>? modulesToSave = null)
    {
        Directory.CreateDirectory(dir);
        var extra = modulesToSave ?? [];
        var decoder = adapters.Model;
        var tensors = adapters.All.SelectMany(a => new[] { a.A, a.B }).Select(t => (Name: ModuleName(decoder, t.Name!), Tensor: t))
            .Concat(extra.Select(t => (Name: t.Name!, Tensor: t)))
            .Select(e => new SafeTensorEntry(Prefix + e.Name, e.Tensor.Shape, e.Tensor.ToArray())).ToList();
        SafeTensors.Write(Path.Combine(dir, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var c = adapters.Config;
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = taskType,
            ["base_model_name_or_path"] = baseModel,
            ["r"] = c.Rank,
            ["lora_alpha"] = c.Alpha,
            ["lora_dropout"] = c.Dropout,
            ["target_modules"] = new JsonArray(c.TargetModules.Select(t => (JsonNode)t).ToArray()),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["modules_to_save"] = extra.Count == 0 ? null : new JsonArray(extra.Select(t => (JsonNode)ModuleOf(t.Name!)).ToArray()),
            ["use_rslora"] = false,
            ["use_dora"] = false,
            ["layers_to_transform"] = null,
            ["rank_pattern"] = new JsonObject(),
            ["alpha_pattern"] = new JsonObject(),
        };
        var json = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.Write(Path.Combine(dir, ConfigFile), s => s.Write(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    /// <summary>The settings of an adapter directory's adapter_config.json; what Ril cannot honour is an error naming the field.</summary>
    public static LoraConfig ReadConfig(string dir)
    {
        var path = Path.Combine(dir, ConfigFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no adapter_config.json in the adapter directory");
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {e.Message}", e); }

        T Field<T>(string name, T fallback)
        {
            var node = root[name];
            if (node is null) return fallback;
            try { return node.GetValue<T>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException) { throw new InvalidDataException($"{path}: field '{name}' is {node.ToJsonString()}, not a {typeof(T).Name}"); }
        }
        void Require(bool ok, string field, string why) { if (!ok) throw new InvalidDataException($"{path}: field '{field}' {why}"); }

        Require(Field<string?>("peft_type", null) == "LORA", "peft_type", "must be \"LORA\"");
        Require(Field("bias", "none") == "none", "bias", "must be \"none\" (Ril's adapters train no biases)");
        Require(!Field("fan_in_fan_out", false), "fan_in_fan_out", "must be false (Ril's projections are [out, in])");
        Require(!Field("use_dora", false), "use_dora", "must be false (DoRA is not supported)");
        Require(!Field("use_rslora", false), "use_rslora", "must be false (rank-stabilised scaling is not supported)");
        Require(root["rank_pattern"] is null or JsonObject { Count: 0 }, "rank_pattern", "must be empty (one rank for every module)");
        Require(root["alpha_pattern"] is null or JsonObject { Count: 0 }, "alpha_pattern", "must be empty (one alpha for every module)");
        Require(root["layers_to_transform"] is null, "layers_to_transform", "must be null (every layer is adapted)");
        var targets = root["target_modules"] switch
        {
            JsonArray a => a.Select(n => n?.GetValue<string>() ?? "").ToList(),
            JsonValue v when v.TryGetValue<string>(out var s) => throw new InvalidDataException($"{path}: field 'target_modules' is the pattern \"{s}\"; Ril reads a list of module names"),
            _ => throw new InvalidDataException($"{path}: field 'target_modules' is missing"),
        };
        var config = new LoraConfig { Rank = Field("r", 8), Alpha = Field("lora_alpha", 8f), Dropout = Field("lora_dropout", 0f), TargetModules = targets };
        config.Validate(path);
        return config;
    }

    /// <summary>
    /// Attaches the adapters of <paramref name="dir"/> to <paramref name="model"/> (freezing its base) and loads their
    /// weights, and those of <paramref name="modulesToSave"/>. A missing or mis-shaped tensor is an error naming it.
    /// </summary>
    public static LoraAdapters Load(string dir, ICausalLM model, IReadOnlyList<Tensor>? modulesToSave = null)
    {
        var config = ReadConfig(dir);
        var path = Path.Combine(dir, WeightsFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no adapter_model.safetensors in the adapter directory");
        var adapters = model.AttachLora(config, new Rng(0));
        var tensors = SafeTensors.Read(path).Tensors;
        var misnamed = tensors.FirstOrDefault(t => !t.Name.StartsWith(Prefix, StringComparison.Ordinal));
        if (misnamed is not null) throw new InvalidDataException($"{path}: tensor '{misnamed.Name}' does not start with '{Prefix}', as PEFT's names do");
        var file = tensors.ToDictionary(t => ParameterName(adapters.Model, t.Name[Prefix.Length..]), t => t);
        var unused = Checkpoint.LoadInto(adapters.Parameters().Concat(modulesToSave ?? []), file, path);
        if (unused.Count > 0) throw new InvalidDataException($"{path}: tensors {string.Join(", ", unused.Select(u => file[u].Name))} match no adapted module of this model");
        return adapters;
    }

    /// <summary>An adapter tensor's name in PEFT's file: under the decoder's place in transformers' class
    /// (<see cref="DecoderLM.ModulePrefix"/>), which is where PEFT looks for it.</summary>
    static string ModuleName(DecoderLM decoder, string parameter) =>
        parameter.StartsWith(decoder.NamePrefix, StringComparison.Ordinal) ? decoder.ModulePrefix + parameter[decoder.NamePrefix.Length..] : parameter;

    /// <summary>
    /// The parameter a file's tensor name (without PEFT's prefix) stands for: a name under the module prefix maps to the
    /// decoder's own names; a name already under its own prefix (older files, and PEFT on transformers before 4.52) is
    /// kept. One prefix may begin with the other ("model." and "model.language_model."): the longer one decides.
    /// </summary>
    static string ParameterName(DecoderLM decoder, string name)
    {
        string own = decoder.NamePrefix, module = decoder.ModulePrefix;
        bool underOwn = name.StartsWith(own, StringComparison.Ordinal), underModule = name.StartsWith(module, StringComparison.Ordinal);
        return underModule && !(underOwn && own.Length > module.Length) ? own + name[module.Length..] : name;
    }

    static string ModuleOf(string parameter) => parameter.EndsWith(".weight") ? parameter[..^".weight".Length] : parameter;
}

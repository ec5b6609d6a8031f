using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace Ril.Training;

/// <summary>A recipe (or a --set override) that cannot be used; the message names the file, line and key.</summary>
public sealed class RecipeException(string message) : Exception(message);

/// <summary>
/// A training recipe: what to train (model, data), how (the RL settings), with which rewards, and how to evaluate and
/// checkpoint. Read from YAML with sections run / model / data / trainer / rollout / loss / reward / eval / checkpoint;
/// every key is known, typed and range-checked, and errors name the file, line and key.
/// </summary>
public sealed record Recipe
{
    public string Name { get; init; } = "run";
    public string OutDir { get; init; } = "runs";
    public string Model { get; init; } = "";
    public string TrainData { get; init; } = "";
    public string? ValData { get; init; }
    public string? TestData { get; init; }
    public bool TextOnly { get; init; }
    public int Steps { get; init; } = 100;
    public RlConfig Rl { get; init; } = new();
    public IReadOnlyList<string> TrainableParts { get; init; } = ["vision", "projector", "lm"];
    /// <summary>"verifier" (the built-in math verifier) or "judge" (an LLM at <see cref="JudgeUrl"/>).</summary>
    public string AnswerReward { get; init; } = "verifier";
    public string? JudgeUrl { get; init; }
    public string? JudgeModel { get; init; }
    public string JudgeApiKeyEnv { get; init; } = "OPENAI_API_KEY";
    public float AnswerWeight { get; init; } = 1f;
    public float FormatWeight { get; init; }
    public int EvalEvery { get; init; }
    public bool EvalEachEpoch { get; init; } = true;
    public string EvalSettings { get; init; } = "maye";
    public int EvalLimit { get; init; }
    public int EvalMaxTokens { get; init; } = 256;
    public int CheckpointEvery { get; init; } = 50;
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>The run's folder: OUT/NAME.</summary>
    public string RunDirectory => Path.Combine(OutDir, Name);

    delegate Recipe Setter(Recipe r, string value, string where);

    /// <summary>Every key a recipe may hold, with how to read it.</summary>
    static readonly Dictionary<string, Setter> Keys = new()
    {
        ["run.name"] = (r, v, w) => r with { Name = Text(v, w) },
        ["run.out"] = (r, v, w) => r with { OutDir = Text(v, w) },
        ["model.path"] = (r, v, w) => r with { Model = Text(v, w) },
        ["model.trainable"] = (r, v, w) => r with { TrainableParts = List(v, w) },
        ["data.train"] = (r, v, w) => r with { TrainData = Text(v, w) },
        ["data.val"] = (r, v, w) => r with { ValData = Text(v, w) },
        ["data.test"] = (r, v, w) => r with { TestData = Text(v, w) },
        ["data.text_only"] = (r, v, w) => r with { TextOnly = Bool(v, w) },
        ["trainer.algo"] = (r, v, w) => r with { Rl = r.Rl with { Objective = Algo(v, w) } },
        ["trainer.steps"] = (r, v, w) => r with { Steps = Int(v, w, 1) },
        ["trainer.questions_per_step"] = (r, v, w) => r with { Rl = r.Rl with { QuestionsPerStep = Int(v, w, 1) } },
        ["trainer.lr"] = (r, v, w) => r with { Rl = r.Rl with { LearningRate = Float(v, w, 0, 1, lowOpen: true) } },
        ["trainer.weight_decay"] = (r, v, w) => r with { Rl = r.Rl with { WeightDecay = Float(v, w, 0, 1) } },
        ["trainer.adam_beta1"] = (r, v, w) => r with { Rl = r.Rl with { Beta1 = Float(v, w, 0, 1) } },
        ["trainer.adam_beta2"] = (r, v, w) => r with { Rl = r.Rl with { Beta2 = Float(v, w, 0, 1) } },
        ["trainer.adam_eps"] = (r, v, w) => r with { Rl = r.Rl with { AdamEps = Float(v, w, 0, 1, lowOpen: true) } },
        ["trainer.grad_clip"] = (r, v, w) => r with { Rl = r.Rl with { GradClip = Float(v, w, 0, float.MaxValue) } },
        ["trainer.ppo_epochs"] = (r, v, w) => r with { Rl = r.Rl with { PpoEpochs = Int(v, w, 1) } },
        ["trainer.mini_batch_size"] = (r, v, w) => r with { Rl = r.Rl with { MiniBatchSize = Int(v, w, 1) } },
        ["trainer.micro_batch_size"] = (r, v, w) => r with { Rl = r.Rl with { MicroBatchSize = Int(v, w, 1) } },
        ["trainer.seed"] = (r, v, w) => r with { Rl = r.Rl with { Seed = (ulong)Int(v, w, 0) } },
        ["trainer.max_bad_steps"] = (r, v, w) => r with { Rl = r.Rl with { MaxBadSteps = Int(v, w, 1) } },
        ["rollout.group_size"] = (r, v, w) => r with { Rl = r.Rl with { GroupSize = Int(v, w, 1) } },
        ["rollout.max_response_tokens"] = (r, v, w) => r with { Rl = r.Rl with { MaxResponseTokens = Int(v, w, 1) } },
        ["rollout.temperature"] = (r, v, w) => r with { Rl = r.Rl with { Temperature = Float(v, w, 0, 100) } },
        ["rollout.top_p"] = (r, v, w) => r with { Rl = r.Rl with { TopP = Float(v, w, 0, 1, lowOpen: true) } },
        ["rollout.top_k"] = (r, v, w) => r with { Rl = r.Rl with { TopK = Int(v, w, 0) } },
        ["rollout.repetition_penalty"] = (r, v, w) => r with { Rl = r.Rl with { RepetitionPenalty = Float(v, w, 0, 100, lowOpen: true) } },
        ["loss.clip_low"] = (r, v, w) => r with { Rl = r.Rl with { ClipLow = Float(v, w, 0, 1) } },
        ["loss.clip_high"] = (r, v, w) => r with { Rl = r.Rl with { ClipHigh = Float(v, w, 0, 100) } },
        ["loss.kl_coef"] = (r, v, w) => r with { Rl = r.Rl with { KlCoef = Float(v, w, 0, 100) } },
        ["loss.filter_zero_variance_groups"] = (r, v, w) => r with { Rl = r.Rl with { FilterZeroVarianceGroups = Bool(v, w) } },
        ["loss.mask_truncated"] = (r, v, w) => r with { Rl = r.Rl with { MaskTruncated = Bool(v, w) } },
        ["reward.answer"] = (r, v, w) => r with { AnswerReward = OneOf(v, w, "verifier", "judge") },
        ["reward.answer_weight"] = (r, v, w) => r with { AnswerWeight = Float(v, w, -100, 100) },
        ["reward.format_weight"] = (r, v, w) => r with { FormatWeight = Float(v, w, -100, 100) },
        ["reward.judge_url"] = (r, v, w) => r with { JudgeUrl = Text(v, w) },
        ["reward.judge_model"] = (r, v, w) => r with { JudgeModel = Text(v, w) },
        ["reward.judge_api_key_env"] = (r, v, w) => r with { JudgeApiKeyEnv = Text(v, w) },
        ["eval.every"] = (r, v, w) => r with { EvalEvery = Int(v, w, 0) },
        ["eval.each_epoch"] = (r, v, w) => r with { EvalEachEpoch = Bool(v, w) },
        ["eval.settings"] = (r, v, w) => r with { EvalSettings = Text(v, w) },
        ["eval.limit"] = (r, v, w) => r with { EvalLimit = Int(v, w, 0) },
        ["eval.max_new_tokens"] = (r, v, w) => r with { EvalMaxTokens = Int(v, w, 1) },
        ["checkpoint.every"] = (r, v, w) => r with { CheckpointEvery = Int(v, w, 0) },
        ["checkpoint.keep"] = (r, v, w) => r with { KeepCheckpoints = Int(v, w, 1) },
    };

    /// <summary>Reads a recipe file, then applies "section.key=value" overrides (as `--set` gives them).</summary>
    public static Recipe Load(string path, IEnumerable<string>? overrides = null)
    {
        if (!File.Exists(path)) throw new RecipeException($"{path}: no such recipe file");
        var yaml = new YamlStream();
        try { using var reader = new StreamReader(path); yaml.Load(reader); }
        catch (YamlDotNet.Core.YamlException e) { throw new RecipeException($"{path}:{e.Start.Line}: not valid YAML ({e.Message})"); }
        var recipe = new Recipe();
        if (yaml.Documents.Count > 0)
        {
            if (yaml.Documents[0].RootNode is not YamlMappingNode root) throw new RecipeException($"{path}:1: a recipe is a mapping of sections (run, model, data, trainer, …)");
            foreach (var (sectionKey, sectionNode) in root.Children)
            {
                string section = ((YamlScalarNode)sectionKey).Value ?? "";
                if (sectionNode is not YamlMappingNode keys)
                    throw new RecipeException($"{path}:{sectionKey.Start.Line}: section '{section}' must be a mapping of keys{KnownSections()}");
                foreach (var (key, value) in keys.Children)
                {
                    string name = $"{section}.{((YamlScalarNode)key).Value}";
                    string where = $"{path}:{key.Start.Line}: key '{name}'";
                    string text = value switch
                    {
                        YamlScalarNode s => s.Value ?? "",
                        YamlSequenceNode seq => string.Join(",", seq.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw new RecipeException($"{where}: list items must be plain values"))),
                        _ => throw new RecipeException($"{where}: expected a value, got a mapping"),
                    };
                    recipe = Set(recipe, name, text, where);
                }
            }
        }
        foreach (var o in overrides ?? [])
        {
            int eq = o.IndexOf('=');
            if (eq <= 0) throw new RecipeException($"--set {o}: expected section.key=value");
            recipe = Set(recipe, o[..eq].Trim(), o[(eq + 1)..].Trim(), $"--set {o[..eq].Trim()}");
        }
        recipe.Validate(path);
        return recipe;
    }

    static Recipe Set(Recipe recipe, string key, string value, string where) =>
        Keys.TryGetValue(key, out var set) ? set(recipe, value, where)
            : throw new RecipeException($"{where}: unknown key{Suggestion(key)}");

    static string Suggestion(string key)
    {
        var section = key.Split('.')[0];
        var siblings = Keys.Keys.Where(k => k.StartsWith(section + ".")).ToList();
        return siblings.Count > 0 ? $" (keys of '{section}': {string.Join(", ", siblings.Select(k => k[(section.Length + 1)..]))})" : KnownSections();
    }

    static string KnownSections() => $" (sections: {string.Join(", ", Keys.Keys.Select(k => k.Split('.')[0]).Distinct())})";

    void Validate(string path)
    {
        if (Model == "") throw new RecipeException($"{path}: key 'model.path' is required");
        if (TrainData == "") throw new RecipeException($"{path}: key 'data.train' is required");
        if (AnswerReward == "judge" && (JudgeUrl is null || JudgeModel is null))
            throw new RecipeException($"{path}: reward.answer 'judge' needs reward.judge_url and reward.judge_model");
        try { Rl.Validate(); }
        catch (ArgumentException e) { throw new RecipeException($"{path}: {e.Message}"); }
        foreach (var part in TrainableParts)
            if (!Training.TrainableParts.Parts.ContainsKey(part))
                throw new RecipeException($"{path}: key 'model.trainable': unknown part '{part}' (known: {string.Join(", ", Training.TrainableParts.Parts.Keys)})");
    }

    // ---- typed values ----------------------------------------------------------------------------

    static string Text(string v, string where) => v.Length > 0 ? v : throw new RecipeException($"{where}: expected a value, got nothing");

    static IReadOnlyList<string> List(string v, string where) =>
        v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } items ? items : throw new RecipeException($"{where}: expected a list");

    static bool Bool(string v, string where) => v.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" => true,
        "false" or "no" or "off" => false,
        _ => throw new RecipeException($"{where}: expected true or false, got '{v}'"),
    };

    static int Int(string v, string where, int min, int max = int.MaxValue)
    {
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x)) throw new RecipeException($"{where}: expected a whole number, got '{v}'");
        if (x < min || x > max) throw new RecipeException($"{where}: {x} is out of range [{min}, {(max == int.MaxValue ? "∞" : max)}]");
        return x;
    }

    static float Float(string v, string where, float min, float max, bool lowOpen = false)
    {
        if (!float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out float x) || !float.IsFinite(x)) throw new RecipeException($"{where}: expected a number, got '{v}'");
        if (x < min || x > max || (lowOpen && x == min)) throw new RecipeException($"{where}: {v} is out of range {(lowOpen ? "(" : "[")}{min}, {max}]");
        return x;
    }

    static string OneOf(string v, string where, params string[] options) =>
        options.Contains(v) ? v : throw new RecipeException($"{where}: '{v}' is not one of {string.Join(", ", options)}");

    static Objective Algo(string v, string where)
    {
        try { return Objectives.Parse(v); }
        catch (ArgumentException e) { throw new RecipeException($"{where}: {e.Message}"); }
    }

    /// <summary>The resolved recipe, as the run directory's config.json records it.</summary>
    public JsonObject ToJson() => new()
    {
        ["run"] = new JsonObject { ["name"] = Name, ["out"] = OutDir },
        ["model"] = new JsonObject { ["path"] = Model, ["trainable"] = new JsonArray(TrainableParts.Select(p => (JsonNode)p).ToArray()) },
        ["data"] = new JsonObject { ["train"] = TrainData, ["val"] = ValData, ["test"] = TestData, ["text_only"] = TextOnly },
        ["trainer"] = new JsonObject
        {
            ["algo"] = Rl.Objective.Name(), ["steps"] = Steps, ["questions_per_step"] = Rl.QuestionsPerStep, ["lr"] = Rl.LearningRate,
            ["weight_decay"] = Rl.WeightDecay, ["adam_beta1"] = Rl.Beta1, ["adam_beta2"] = Rl.Beta2, ["adam_eps"] = Rl.AdamEps,
            ["grad_clip"] = Rl.GradClip, ["ppo_epochs"] = Rl.PpoEpochs, ["mini_batch_size"] = Rl.MiniBatchSize,
            ["micro_batch_size"] = Rl.MicroBatchSize, ["seed"] = Rl.Seed, ["max_bad_steps"] = Rl.MaxBadSteps,
        },
        ["rollout"] = new JsonObject
        {
            ["group_size"] = Rl.GroupSize, ["max_response_tokens"] = Rl.MaxResponseTokens, ["temperature"] = Rl.Temperature,
            ["top_p"] = Rl.TopP, ["top_k"] = Rl.TopK, ["repetition_penalty"] = Rl.RepetitionPenalty,
        },
        ["loss"] = new JsonObject
        {
            ["clip_low"] = Rl.ClipLow, ["clip_high"] = Rl.ClipHigh, ["kl_coef"] = Rl.KlCoef,
            ["filter_zero_variance_groups"] = Rl.FilterZeroVarianceGroups, ["mask_truncated"] = Rl.MaskTruncated,
        },
        ["reward"] = new JsonObject
        {
            ["answer"] = AnswerReward, ["answer_weight"] = AnswerWeight, ["format_weight"] = FormatWeight,
            ["judge_url"] = JudgeUrl, ["judge_model"] = JudgeModel, ["judge_api_key_env"] = JudgeApiKeyEnv,
        },
        ["eval"] = new JsonObject { ["every"] = EvalEvery, ["each_epoch"] = EvalEachEpoch, ["settings"] = EvalSettings, ["limit"] = EvalLimit, ["max_new_tokens"] = EvalMaxTokens },
        ["checkpoint"] = new JsonObject { ["every"] = CheckpointEvery, ["keep"] = KeepCheckpoints },
    };
}

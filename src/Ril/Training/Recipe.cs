using System.Globalization;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Tensors.Optim;
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
    /// <summary>Runs with the same group (e.g. one algorithm over several seeds) are drawn and tabled together by `ril report`.</summary>
    public string? Group { get; init; }
    public string OutDir { get; init; } = "runs";
    public string Model { get; init; } = "";
    public string TrainData { get; init; } = "";
    public string? ValData { get; init; }
    public string? TestData { get; init; }
    public bool TextOnly { get; init; }
    /// <summary>The fields (JSONL) or columns (Parquet) holding the question, answer, solution and images (data.question_key …; MAYE's names when unset).</summary>
    public DatasetKeys DataKeys { get; init; } = DatasetKeys.Maye;
    public int Steps { get; init; } = 100;
    public RlConfig Rl { get; init; } = new();
    /// <summary>
    /// The parts that train (`model.trainable`): vision, projector, lm or lm.* sub-modules, by Hugging Face names in
    /// every family's layout (<see cref="Training.TrainableParts"/>); with LoRA the decoder's base stays frozen whatever
    /// this says, and the tower and projector train in full where listed.
    /// </summary>
    public IReadOnlyList<string> TrainableParts { get; init; } = ["vision", "projector", "lm"];
    /// <summary>"verifier" (the built-in math verifier) or "judge" (an LLM at <see cref="JudgeUrl"/>).</summary>
    public string AnswerReward { get; init; } = "verifier";
    public string? JudgeUrl { get; init; }
    public string? JudgeModel { get; init; }
    public string JudgeApiKeyEnv { get; init; } = "OPENAI_API_KEY";
    public float AnswerWeight { get; init; } = 1f;
    public float FormatWeight { get; init; }
    /// <summary>A step whose judge failed on more than this share of its verdicts stops the run (its zeros are not rewards).</summary>
    public float MaxJudgeFailures { get; init; } = 0.25f;
    public int EvalEvery { get; init; }
    public bool EvalEachEpoch { get; init; } = true;
    public string EvalSettings { get; init; } = "maye";
    public int EvalLimit { get; init; }
    public int EvalMaxTokens { get; init; } = 256;
    public int CheckpointEvery { get; init; } = 50;
    public int KeepCheckpoints { get; init; } = 3;
    /// <summary>The policy's learning-rate schedule: constant, linear (to <see cref="MinLr"/>) or cosine (warm-up, then to <see cref="MinLr"/>).</summary>
    public string LrSchedule { get; init; } = "constant";
    public int WarmupSteps { get; init; }
    public float MinLr { get; init; }
    /// <summary>RIL's settings (the `ril` and `discriminator` sections); used when trainer.algo is ril.</summary>
    public RilConfig Ril { get; init; } = new();
    /// <summary>The teacher cache (JSONL of `ril teachers synth|collect`) RIL and discriminator pre-training draw from.</summary>
    public string? TeacherCache { get; init; }
    /// <summary>A pre-trained discriminator (the folder `ril disc pretrain` writes); RIL starts D from the student when absent.</summary>
    public string? DiscriminatorInit { get; init; }
    /// <summary>Discriminator pre-training (the `disc_pretrain` section): N responses per question and source, epochs, batch, final lr, held-out share.</summary>
    public DiscriminatorPretrainOptions Pretrain { get; init; } = new();

    /// <summary>
    /// LoRA (the `lora` section; any of its keys turns it on): the student — and the discriminator, over the same frozen
    /// base — train adapters only. Null trains the parameters of <see cref="TrainableParts"/> in full.
    /// </summary>
    public Models.LoraConfig? Lora { get; init; }
    /// <summary>Frozen weight matrices kept in bf16 (`model.frozen_bf16`): LoRA's base, or the parts outside model.trainable.</summary>
    public bool FrozenBf16 { get; init; }
    /// <summary>Each decoder block's activations recomputed in backward instead of kept (`trainer.recompute_activations`).</summary>
    public bool RecomputeActivations { get; init; }

    /// <summary>The recipe file it was read from (errors name it); empty for a recipe built in code.</summary>
    public string Source { get; init; } = "";

    /// <summary>The run's folder: OUT/NAME.</summary>
    public string RunDirectory => Path.Combine(OutDir, Name);

    delegate Recipe Setter(Recipe r, string value, string where);

    /// <summary>Every key a recipe may hold, with how to read it.</summary>
    static readonly Dictionary<string, Setter> Keys = new()
    {
        ["run.name"] = (r, v, w) => r with { Name = Text(v, w) },
        ["run.out"] = (r, v, w) => r with { OutDir = Text(v, w) },
        ["run.group"] = (r, v, w) => r with { Group = Text(v, w) },
        ["model.path"] = (r, v, w) => r with { Model = Text(v, w) },
        ["model.trainable"] = (r, v, w) => r with { TrainableParts = List(v, w) },
        ["model.frozen_bf16"] = (r, v, w) => r with { FrozenBf16 = Bool(v, w) },
        ["data.train"] = (r, v, w) => r with { TrainData = Text(v, w) },
        ["data.val"] = (r, v, w) => r with { ValData = Text(v, w) },
        ["data.test"] = (r, v, w) => r with { TestData = Text(v, w) },
        ["data.text_only"] = (r, v, w) => r with { TextOnly = Bool(v, w) },
        ["data.question_key"] = (r, v, w) => r with { DataKeys = r.DataKeys with { Question = Text(v, w) } },
        ["data.answer_key"] = (r, v, w) => r with { DataKeys = r.DataKeys with { Answer = Text(v, w) } },
        ["data.solution_key"] = (r, v, w) => r with { DataKeys = r.DataKeys with { Solution = Text(v, w) } },
        ["data.image_key"] = (r, v, w) => r with { DataKeys = r.DataKeys with { Image = Text(v, w) } },
        ["trainer.algo"] = (r, v, w) => r with { Rl = r.Rl with { Objective = Algo(v, w) } },
        ["trainer.steps"] = (r, v, w) => r with { Steps = Int(v, w, 1) },
        ["trainer.questions_per_step"] = (r, v, w) => r with { Rl = r.Rl with { QuestionsPerStep = Int(v, w, 1) } },
        ["trainer.lr"] = (r, v, w) => r with { Rl = r.Rl with { LearningRate = Float(v, w, 0, 1, lowOpen: true) } },
        ["trainer.weight_decay"] = (r, v, w) => r with { Rl = r.Rl with { WeightDecay = Float(v, w, 0, 1) } },
        ["trainer.adam_beta1"] = (r, v, w) => r with { Rl = r.Rl with { Beta1 = Float(v, w, 0, 1) } },
        ["trainer.adam_beta2"] = (r, v, w) => r with { Rl = r.Rl with { Beta2 = Float(v, w, 0, 1) } },
        ["trainer.adam_eps"] = (r, v, w) => r with { Rl = r.Rl with { AdamEps = Float(v, w, 0, 1, lowOpen: true) } },
        ["trainer.grad_clip"] = (r, v, w) => r with { Rl = r.Rl with { GradClip = Float(v, w, 0, float.MaxValue) } },
        ["trainer.pack"] = (r, v, w) => r with { Rl = r.Rl with { Pack = Bool(v, w) } },
        ["trainer.share_prompt"] = (r, v, w) => r with { Rl = r.Rl with { SharePrompt = Bool(v, w) } },
        ["trainer.old_logprobs"] = (r, v, w) => r with { Rl = r.Rl with { OldLogProbsFromSampler = OneOf(v, w, "recompute", "sampler") == "sampler" } },
        ["trainer.recompute_activations"] = (r, v, w) => r with { RecomputeActivations = Bool(v, w) },
        ["lora.rank"] = (r, v, w) => WithLora(r, l => l with { Rank = Int(v, w, 1, 4096) }),
        ["lora.alpha"] = (r, v, w) => WithLora(r, l => l with { Alpha = Float(v, w, 0, 1e6f, lowOpen: true) }),
        ["lora.dropout"] = (r, v, w) => WithLora(r, l => l with { Dropout = Float(v, w, 0, 0.99f) }),
        ["lora.target_modules"] = (r, v, w) => WithLora(r, l => l with { TargetModules = Projections(v, w) }),
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
        ["reward.answer_weight"] = (r, v, w) => Float(v, w, -100, 100) is var x ? r with { AnswerWeight = x, Ril = r.Ril with { AnswerWeight = x } } : r,
        ["reward.format_weight"] = (r, v, w) => r with { FormatWeight = Float(v, w, -100, 100) },
        ["reward.judge_url"] = (r, v, w) => r with { JudgeUrl = Text(v, w) },
        ["reward.judge_model"] = (r, v, w) => r with { JudgeModel = Text(v, w) },
        ["reward.judge_api_key_env"] = (r, v, w) => r with { JudgeApiKeyEnv = Text(v, w) },
        ["reward.max_judge_failures"] = (r, v, w) => r with { MaxJudgeFailures = Float(v, w, 0, 1) },
        ["eval.every"] = (r, v, w) => r with { EvalEvery = Int(v, w, 0) },
        ["eval.each_epoch"] = (r, v, w) => r with { EvalEachEpoch = Bool(v, w) },
        ["eval.settings"] = (r, v, w) => r with { EvalSettings = Text(v, w) },
        ["eval.limit"] = (r, v, w) => r with { EvalLimit = Int(v, w, 0) },
        ["eval.max_new_tokens"] = (r, v, w) => r with { EvalMaxTokens = Int(v, w, 1) },
        ["checkpoint.every"] = (r, v, w) => r with { CheckpointEvery = Int(v, w, 0) },
        ["checkpoint.keep"] = (r, v, w) => r with { KeepCheckpoints = Int(v, w, 1) },
        ["trainer.lr_schedule"] = (r, v, w) => r with { LrSchedule = OneOf(v, w, "constant", "linear", "cosine") },
        ["trainer.warmup_steps"] = (r, v, w) => r with { WarmupSteps = Int(v, w, 0) },
        ["trainer.min_lr"] = (r, v, w) => r with { MinLr = Float(v, w, 0, 1) },
        ["ril.teacher_cache"] = (r, v, w) => r with { TeacherCache = Text(v, w) },
        ["ril.teachers"] = (r, v, w) => r with { Ril = r.Ril with { Teachers = List(v, w) } },
        ["ril.teacher_sampling"] = (r, v, w) => r with { Ril = r.Ril with { TeacherSampling = OneOf(v, w, "round_robin", "fixed_quota", "uniform") switch
            { "round_robin" => Data.TeacherSampling.RoundRobin, "fixed_quota" => Data.TeacherSampling.FixedQuota, _ => Data.TeacherSampling.Uniform } } },
        ["ril.teacher_quota"] = (r, v, w) => r with { Ril = r.Ril with { TeacherQuota = Quota(v, w) } },
        ["ril.teachers_in_group"] = (r, v, w) => r with { Ril = r.Ril with { TeacherTokens = Bool(v, w) ? TeacherTokens.Published : TeacherTokens.None } },   // before ril.teacher_tokens
        ["ril.teacher_tokens"] = (r, v, w) => r with { Ril = r.Ril with { TeacherTokens = OneOf(v, w, "published", "shaped", "chord", "none") switch
            { "published" => TeacherTokens.Published, "shaped" => TeacherTokens.Shaped, "chord" => TeacherTokens.Chord, _ => TeacherTokens.None } } },
        ["ril.shaping_gamma"] = (r, v, w) => r with { Ril = r.Ril with { ShapingGamma = Float(v, w, 0, 100, lowOpen: true) } },
        ["ril.chord_mu"] = (r, v, w) => r with { Ril = r.Ril with { ChordMu = Float(v, w, 0, 1) } },
        ["ril.teacher_when"] = (r, v, w) => r with { Ril = r.Ril with { TeacherWhen = OneOf(v, w, "always", "all_fail", "below") switch
            { "always" => TeacherWhen.Always, "all_fail" => TeacherWhen.AllFail, _ => TeacherWhen.Below } } },
        ["ril.teacher_threshold"] = (r, v, w) => r with { Ril = r.Ril with { TeacherThreshold = Float(v, w, 0, 1, lowOpen: true) } },
        ["ril.teacher_slots"] = (r, v, w) => r with { Ril = r.Ril with { TeacherSlots = Int(v, w, 1) } },
        ["ril.guidance"] = (r, v, w) => r with { Ril = r.Ril with { Guidance = OneOf(v, w, "none", "zppo") == "zppo" ? Guidance.Zppo : Guidance.None } },
        ["zppo.threshold"] = (r, v, w) => r with { Ril = r.Ril with { Zppo = r.Ril.Zppo with { Threshold = Float(v, w, 0, 1, lowOpen: true) } } },
        ["zppo.buffer_capacity"] = (r, v, w) => r with { Ril = r.Ril with { Zppo = r.Ril.Zppo with { BufferCapacity = Int(v, w, 1, 1_000_000) } } },
        ["zppo.replay_per_step"] = (r, v, w) => r with { Ril = r.Ril with { Zppo = r.Ril.Zppo with { ReplayPerStep = Int(v, w, 0) } } },
        ["zppo.hard_per_step"] = (r, v, w) => r with { Ril = r.Ril with { Zppo = r.Ril.Zppo with { HardPerStep = Int(v, w, 0) } } },
        ["zppo.max_wrong_in_ncq"] = (r, v, w) => r with { Ril = r.Ril with { Zppo = r.Ril.Zppo with { MaxWrongInNcq = Int(v, w, 1, 64) } } },
        ["ril.student_baseline"] = (r, v, w) => r with { Ril = r.Ril with { StudentBaseline = OneOf(v, w, "group", "students") == "group" ? StudentBaseline.Group : StudentBaseline.Students } },
        ["ril.discriminator"] = (r, v, w) => r with { Ril = r.Ril with { Discriminator = OneOf(v, w, "updating", "frozen", "none") switch
            { "updating" => DiscriminatorMode.Updating, "frozen" => DiscriminatorMode.Frozen, _ => DiscriminatorMode.None } } },
        ["ril.discriminator_init"] = (r, v, w) => r with { DiscriminatorInit = Text(v, w) },
        ["ril.similarity"] = (r, v, w) => r with { Ril = r.Ril with { Similarity = Similarity(v, w) } },
        ["ril.similarity_weight"] = (r, v, w) => r with { Ril = r.Ril with { SimilarityWeight = Float(v, w, 0, 100) } },
        ["discriminator.lr"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { LearningRate = Float(v, w, 0, 1, lowOpen: true) } } },
        ["discriminator.weight_decay"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { WeightDecay = Float(v, w, 0, 1) } } },
        ["discriminator.grad_clip"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { GradClip = Float(v, w, 0, float.MaxValue) } } },
        ["discriminator.updates"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { Updates = Int(v, w, 0) } } },
        ["discriminator.micro_batch_size"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { MicroBatchSize = Int(v, w, 1) } } },
        ["discriminator.share_prefix"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { SharePrefix = Bool(v, w) } } },
        ["discriminator.max_response_tokens"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { MaxResponseTokens = Int(v, w, 0) } } },
        ["discriminator.input"] = (r, v, w) => r with { Ril = r.Ril with { DiscriminatorSettings = r.Ril.DiscriminatorSettings with { Input = OneOf(v, w, "response", "question_and_response") == "response"
            ? DiscriminatorInput.Response : DiscriminatorInput.QuestionAndResponse } } },
        ["disc_pretrain.responses"] = (r, v, w) => r with { Pretrain = r.Pretrain with { Responses = Int(v, w, 1) } },
        ["disc_pretrain.epochs"] = (r, v, w) => r with { Pretrain = r.Pretrain with { Epochs = Int(v, w, 1) } },
        ["disc_pretrain.batch_size"] = (r, v, w) => r with { Pretrain = r.Pretrain with { BatchSize = Int(v, w, 1) } },
        ["disc_pretrain.lr"] = (r, v, w) => r with { Pretrain = r.Pretrain with { LearningRate = Float(v, w, 0, 1, lowOpen: true) } },
        ["disc_pretrain.final_lr"] = (r, v, w) => r with { Pretrain = r.Pretrain with { FinalLearningRate = Float(v, w, 0, 1) } },
        ["disc_pretrain.held_out"] = (r, v, w) => r with { Pretrain = r.Pretrain with { HeldOutShare = Float(v, w, 0, 0.9f) } },
        ["disc_pretrain.questions"] = (r, v, w) => r with { Pretrain = r.Pretrain with { Questions = Int(v, w, 0) } },
    };

    /// <summary>Reads a recipe file, then applies "section.key=value" overrides (as `--set` gives them).</summary>
    public static Recipe Load(string path, IEnumerable<string>? overrides = null)
    {
        if (!File.Exists(path)) throw new RecipeException($"{path}: no such recipe file");
        var yaml = new YamlStream();
        try { using var reader = new StreamReader(path); yaml.Load(reader); }
        catch (YamlDotNet.Core.YamlException e) { throw new RecipeException($"{path}:{e.Start.Line}: not valid YAML ({e.Message.ReplaceLineEndings(" ")})"); }
        // YamlDotNet reports a few malformed streams (an event it cannot represent) with these instead.
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { throw new RecipeException($"{path}: not YAML a recipe can hold ({e.Message.ReplaceLineEndings(" ")})"); }
        var recipe = new Recipe { Source = path };
        if (yaml.Documents.Count > 0)
        {
            if (yaml.Documents[0].RootNode is not YamlMappingNode root) throw new RecipeException($"{path}:1: a recipe is a mapping of sections (run, model, data, trainer, …)");
            foreach (var (sectionKey, sectionNode) in root.Children)
            {
                string section = Key(sectionKey, path);
                if (sectionNode is not YamlMappingNode keys)
                    throw new RecipeException($"{path}:{sectionKey.Start.Line}: section '{section}' must be a mapping of keys{KnownSections()}");
                foreach (var (key, value) in keys.Children)
                {
                    string name = $"{section}.{Key(key, path)}";
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

    /// <summary>A mapping's key, which must be a plain word (YAML also allows lists and mappings as keys).</summary>
    static string Key(YamlNode key, string path) => key is YamlScalarNode { Value: { } name }
        ? name : throw new RecipeException($"{path}:{key.Start.Line}: a key must be a plain name, got a {(key is YamlSequenceNode ? "list" : "mapping")}");

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
        try
        {
            Rl.Validate();
            if (Rl.Objective == Objective.Ril) Ril.Validate(Rl);
        }
        catch (ArgumentException e) { throw new RecipeException($"{path}: {e.Message}"); }
        if (Rl.Objective == Objective.Ril && TeacherCache is null) throw new RecipeException($"{path}: trainer.algo 'ril' needs key 'ril.teacher_cache' (a teacher cache from `ril teachers synth` or `ril teachers collect`)");
        if (WarmupSteps > Steps) throw new RecipeException($"{path}: key 'trainer.warmup_steps' ({WarmupSteps}) exceeds trainer.steps ({Steps})");
        foreach (var part in TrainableParts)
            if (!Training.TrainableParts.Parts.ContainsKey(part))
                throw new RecipeException($"{path}: key 'model.trainable': unknown part '{part}' (known: {string.Join(", ", Training.TrainableParts.Parts.Keys)})");
    }

    /// <summary>
    /// Refuses a recipe whose step cannot fit in <paramref name="available"/> bytes, naming the file, the keys behind the
    /// largest term of the estimate, the estimate and the memory (docs/spec/BOUNDS.md "A step's memory").
    /// </summary>
    public void CheckMemory(StepMemory estimate, double available, int longestPrompt)
    {
        if (estimate.Total <= available) return;
        string keys = estimate.UpdateLogits > Math.Max(estimate.KvCaches, estimate.DecodeLogits)
            ? $"trainer.micro_batch_size ({Rl.MicroBatchSize}) × rollout.max_response_tokens ({Rl.MaxResponseTokens}) response slots"
            : $"trainer.questions_per_step ({Rl.QuestionsPerStep}) × rollout.group_size ({Rl.GroupSize}) rows of (longest prompt {longestPrompt} + rollout.max_response_tokens {Rl.MaxResponseTokens}) positions";
        throw new RecipeException($"{(Source.Length > 0 ? Source : "recipe")}: {keys} make a step of about {StepMemory.Gb(estimate.Total)} GB at the least " +
            $"({estimate}), more than the {StepMemory.Gb(available)} GB available; lower these keys");
    }

    /// <summary>
    /// Refuses a recipe the student cannot run, naming the file and the key: trainer.share_prompt or
    /// discriminator.share_prefix on a model with linear-attention layers (Qwen3.5), whose responses would start from a
    /// zero recurrent state instead of the prompt's (the discriminator has the student's architecture).
    /// </summary>
    public void CheckModel(Models.ICausalLM model)
    {
        if (ResponseLogProbs.Layout.CanSharePrompts(model)) return;
        string source = Source.Length > 0 ? Source : "recipe";
        if (Rl.SharePrompt)
            throw new RecipeException($"{source}: trainer.share_prompt needs attention in every layer, and this " +
                "model has linear-attention layers (their state would not carry from the prompt to each response); use trainer.pack");
        if (Ril.DiscriminatorSettings.SharePrefix)
            throw new RecipeException($"{source}: discriminator.share_prefix needs attention in every layer, and this " +
                "model (the discriminator's architecture) has linear-attention layers (their state would not carry from the prefix to each response)");
    }

    // ---- typed values ----------------------------------------------------------------------------

    static Recipe WithLora(Recipe r, Func<Models.LoraConfig, Models.LoraConfig> change) => r with { Lora = change(r.Lora ?? new Models.LoraConfig()) };

    /// <summary>A list of the decoder's projection names (q_proj … down_proj, Qwen3.5's in_proj_qkv … out_proj).</summary>
    static IReadOnlyList<string> Projections(string v, string where)
    {
        var items = List(v, where);
        var unknown = items.FirstOrDefault(i => !Models.LoraConfig.KnownModules.Contains(i));
        return unknown is null ? items : throw new RecipeException($"{where}: unknown module '{unknown}' (known: {string.Join(", ", Models.LoraConfig.KnownModules)})");
    }

    static string Text(string v, string where) => v.Length > 0 ? v : throw new RecipeException($"{where}: expected a value, got nothing");

    /// <summary>A list as the YAML loader flattens it ("a, b"), or as --set gives it in flow style ("[a, b]").</summary>
    static IReadOnlyList<string> List(string v, string where) =>
        (v.StartsWith('[') && v.EndsWith(']') ? v[1..^1] : v).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } items ? items : throw new RecipeException($"{where}: expected a list");

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

    /// <summary>"teacher:count,teacher:count" (the fixed-quota policy's G slots).</summary>
    static IReadOnlyDictionary<string, int> Quota(string v, string where)
    {
        var quota = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in List(v, where))
        {
            var parts = item.Split(':', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0) throw new RecipeException($"{where}: expected teacher:count items, got '{item}'");
            quota[parts[0]] = Int(parts[1], where, 1);
        }
        return quota;
    }

    /// <summary>The policy's learning rate over the run, as trainer.lr_schedule says.</summary>
    public LrSchedule Schedule() => LrSchedule switch
    {
        "linear" => new Tensors.Optim.LinearDecayLr(Rl.LearningRate, MinLr, Steps),
        "cosine" => new WarmupCosineLr(Rl.LearningRate, WarmupSteps, Steps, MinLr),
        _ => new ConstantLr(Rl.LearningRate),
    };

    static Rewards.SimilarityKind Similarity(string v, string where)
    {
        try { return Rewards.SimilarityReward.Parse(v); }
        catch (ArgumentException e) { throw new RecipeException($"{where}: {e.Message}"); }
    }

    static Objective Algo(string v, string where)
    {
        try { return Objectives.Parse(v); }
        catch (ArgumentException e) { throw new RecipeException($"{where}: {e.Message}"); }
    }

    /// <summary>
    /// The keys (dotted, as in a recipe) whose values differ between two resolved recipes, with both values as JSON; a
    /// resume compares the recipe it is given with the run's config.json. A key that <paramref name="was"/> lacks (a
    /// config saved before the key existed) counts as its value in <paramref name="defaults"/>, when given.
    /// </summary>
    public static List<(string Key, string Was, string Now)> Differences(JsonObject was, JsonObject now, JsonObject? defaults = null)
    {
        var changes = new List<(string, string, string)>();
        void Walk(string prefix, JsonNode? a, JsonNode? b, JsonNode? d)
        {
            if (a is JsonObject ao && b is JsonObject bo)
            {
                var @do = d as JsonObject;
                foreach (var key in ao.Select(kv => kv.Key).Union(bo.Select(kv => kv.Key)))
                    Walk(prefix.Length == 0 ? key : $"{prefix}.{key}", ao.ContainsKey(key) ? ao[key] : @do?[key], bo[key], @do?[key]);
                return;
            }
            string x = a?.ToJsonString() ?? "null", y = b?.ToJsonString() ?? "null";
            if (x != y) changes.Add((prefix, x, y));
        }
        Walk("", was, now, defaults);
        return changes;
    }

    /// <summary>The resolved recipe, as the run directory's config.json records it.</summary>
    public JsonObject ToJson() => new()
    {
        ["run"] = new JsonObject { ["name"] = Name, ["out"] = OutDir, ["group"] = Group },
        ["model"] = new JsonObject { ["path"] = Model, ["trainable"] = new JsonArray(TrainableParts.Select(p => (JsonNode)p).ToArray()), ["frozen_bf16"] = FrozenBf16 },
        ["data"] = new JsonObject { ["train"] = TrainData, ["val"] = ValData, ["test"] = TestData, ["text_only"] = TextOnly,
            ["question_key"] = DataKeys.Question, ["answer_key"] = DataKeys.Answer, ["solution_key"] = DataKeys.Solution, ["image_key"] = DataKeys.Image },
        ["trainer"] = new JsonObject
        {
            ["algo"] = Rl.Objective.Name(), ["steps"] = Steps, ["questions_per_step"] = Rl.QuestionsPerStep, ["lr"] = Rl.LearningRate,
            ["weight_decay"] = Rl.WeightDecay, ["adam_beta1"] = Rl.Beta1, ["adam_beta2"] = Rl.Beta2, ["adam_eps"] = Rl.AdamEps,
            ["grad_clip"] = Rl.GradClip, ["ppo_epochs"] = Rl.PpoEpochs, ["mini_batch_size"] = Rl.MiniBatchSize,
            ["micro_batch_size"] = Rl.MicroBatchSize, ["seed"] = Rl.Seed, ["max_bad_steps"] = Rl.MaxBadSteps,
            ["lr_schedule"] = LrSchedule, ["warmup_steps"] = WarmupSteps, ["min_lr"] = MinLr,
            ["recompute_activations"] = RecomputeActivations, ["pack"] = Rl.Pack, ["share_prompt"] = Rl.SharePrompt,
            ["old_logprobs"] = Rl.OldLogProbsFromSampler ? "sampler" : "recompute",
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
            ["max_judge_failures"] = MaxJudgeFailures,
        },
        ["eval"] = new JsonObject { ["every"] = EvalEvery, ["each_epoch"] = EvalEachEpoch, ["settings"] = EvalSettings, ["limit"] = EvalLimit, ["max_new_tokens"] = EvalMaxTokens },
        ["checkpoint"] = new JsonObject { ["every"] = CheckpointEvery, ["keep"] = KeepCheckpoints },
        ["ril"] = new JsonObject
        {
            ["teacher_cache"] = TeacherCache, ["teachers"] = Ril.Teachers is null ? null : new JsonArray(Ril.Teachers.Select(t => (JsonNode)t).ToArray()),
            ["teacher_sampling"] = Ril.TeacherSampling.ToString(), ["teacher_quota"] = Ril.TeacherQuota is null ? null : string.Join(",", Ril.TeacherQuota.Select(kv => $"{kv.Key}:{kv.Value}")),
            ["teacher_tokens"] = Ril.TeacherTokens.ToString().ToLowerInvariant(), ["shaping_gamma"] = Ril.ShapingGamma, ["chord_mu"] = Ril.ChordMu,
            ["teacher_when"] = Ril.TeacherWhen switch { TeacherWhen.Always => "always", TeacherWhen.AllFail => "all_fail", _ => "below" },
            ["teacher_threshold"] = Ril.TeacherThreshold, ["teacher_slots"] = Ril.TeacherSlots, ["guidance"] = Ril.Guidance.ToString().ToLowerInvariant(),
            ["student_baseline"] = Ril.StudentBaseline.ToString().ToLowerInvariant(), ["discriminator"] = Ril.Discriminator.ToString().ToLowerInvariant(),
            ["discriminator_init"] = DiscriminatorInit, ["similarity"] = Ril.Similarity.ToString().ToLowerInvariant(), ["similarity_weight"] = Ril.SimilarityWeight,
        },
        ["zppo"] = new JsonObject
        {
            ["threshold"] = Ril.Zppo.Threshold, ["buffer_capacity"] = Ril.Zppo.BufferCapacity, ["replay_per_step"] = Ril.Zppo.ReplayPerStep,
            ["hard_per_step"] = Ril.Zppo.HardPerStep, ["max_wrong_in_ncq"] = Ril.Zppo.MaxWrongInNcq,
        },
        ["discriminator"] = new JsonObject
        {
            ["lr"] = Ril.DiscriminatorSettings.LearningRate, ["weight_decay"] = Ril.DiscriminatorSettings.WeightDecay, ["grad_clip"] = Ril.DiscriminatorSettings.GradClip,
            ["updates"] = Ril.DiscriminatorSettings.Updates, ["micro_batch_size"] = Ril.DiscriminatorSettings.MicroBatchSize,
            ["max_response_tokens"] = Ril.DiscriminatorSettings.MaxResponseTokens, ["input"] = Ril.DiscriminatorSettings.Input.ToString(),
            ["share_prefix"] = Ril.DiscriminatorSettings.SharePrefix,
        },
        ["disc_pretrain"] = new JsonObject
        {
            ["responses"] = Pretrain.Responses, ["epochs"] = Pretrain.Epochs, ["batch_size"] = Pretrain.BatchSize, ["lr"] = Pretrain.LearningRate,
            ["final_lr"] = Pretrain.FinalLearningRate, ["held_out"] = Pretrain.HeldOutShare, ["questions"] = Pretrain.Questions,
        },
        ["lora"] = Lora is null ? null : new JsonObject
        {
            ["rank"] = Lora.Rank, ["alpha"] = Lora.Alpha, ["dropout"] = Lora.Dropout,
            ["target_modules"] = new JsonArray(Lora.TargetModules.Select(t => (JsonNode)t).ToArray()),
        },
    };
}

using System.Diagnostics;
using Ril.Data;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Text;

namespace Ril.Training;

/// <summary>
/// What <see cref="SftRun"/> trains and on what. The model comes from <see cref="ModelDir"/> (a model directory) or is
/// created fresh from the preset <see cref="Init"/> with the tokenizer <see cref="TokenizerPath"/>; the targets are the
/// gold solutions of <see cref="DataPath"/>, or, with <see cref="TeachersPath"/>, the cached teacher responses to its
/// questions (only those of <see cref="Teachers"/> when that is not empty).
/// </summary>
public sealed record SftRunOptions
{
    /// <summary>A model directory to fine-tune (config.json, weights, tokenizer.json); or null with <see cref="Init"/>.</summary>
    public string? ModelDir { get; init; }
    /// <summary>A preset to create a fresh model from (see <see cref="ModelPresets.Names"/>); or null with <see cref="ModelDir"/>.</summary>
    public string? Init { get; init; }
    /// <summary>tokenizer.json of a fresh model (<see cref="Init"/>); a model directory brings its own.</summary>
    public string? TokenizerPath { get; init; }
    /// <summary>The dataset (<see cref="DatasetSource"/>: JSONL, Parquet, a Hub id): the questions (and images), and with no teacher cache, the gold <c>solution</c>s to imitate; or conversations (<c>messages</c>), trained on their assistant turns.</summary>
    public required string DataPath { get; init; }
    /// <summary>The fields (JSONL) or columns (Parquet) holding question, answer, solution and images.</summary>
    public DatasetKeys Keys { get; init; } = DatasetKeys.Maye;
    /// <summary>A teacher cache (JSONL of id, teacher, response) whose responses to the questions of <see cref="DataPath"/> are the targets.</summary>
    public string? TeachersPath { get; init; }
    /// <summary>Teachers of the cache to imitate; empty: all of them.</summary>
    public IReadOnlyList<string> Teachers { get; init; } = [];
    /// <summary>The model directory to write; it must not exist, or be empty.</summary>
    public required string OutDir { get; init; }
    public int Steps { get; init; } = 200;
    public int BatchSize { get; init; } = 8;
    /// <summary>Peak learning rate, reached after <see cref="WarmupSteps"/> and decayed by a cosine to a tenth of it at the last step.</summary>
    public float LearningRate { get; init; } = 1e-3f;
    /// <summary>Linear warm-up steps; null: a tenth of <see cref="Steps"/>.</summary>
    public int? WarmupSteps { get; init; }
    /// <summary>Seeds the fresh model's weights and the order of the examples.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Pack each batch's short examples into shared rows of the forward (<see cref="ResponseLogProbs"/>): the same loss, less padding computed.</summary>
    public bool Pack { get; init; }
}

/// <summary>Progress of an <see cref="SftRun"/> after a step: the step (1-based), its loss, learning rate and token throughput so far.</summary>
public sealed record SftProgress(int Step, int TotalSteps, float Loss, float LearningRate, double TokensPerSecond, TimeSpan Elapsed);

/// <summary>
/// The outcome of an <see cref="SftRun"/>: the first step's loss, the final loss (the mean over the last
/// <see cref="SftRun.FinalLossWindow"/> steps, since one batch's loss is noisy), and what was trained on.
/// </summary>
public sealed record SftRunResult(float FirstLoss, float FinalLoss, int Steps, int Examples, int SkippedExamples, string OutDir, TimeSpan Elapsed);

/// <summary>Model shapes that <c>ril sft --init</c> creates from scratch.</summary>
public static class ModelPresets
{
    /// <summary>
    /// A preset's image size (its patch grid and image tokens follow from it); the rest is shared. Both are sized for the built-in suite and train in minutes
    /// on two cores. Vision: SigLIP layout, 8-pixel patches, hidden 32, 1 layer, 2 heads; projector: pixel shuffle 2 (each
    /// image token is a 2 × 2 block of patches). Decoder: Qwen2 layout, hidden 64, MLP 128, 2 layers, 4 heads with 2
    /// key-value heads, 1024 positions, the tokenizer's vocabulary.
    /// </summary>
    sealed record Preset(int ImageSize, string Description);

    static readonly Dictionary<string, Preset> Table = new()
    {
        ["tiny"] = new(32, "32-pixel images, a 4 × 4 patch grid, 4 image tokens"),
        // docs/RESULTS.md §9: at 48 pixels each image token covers one 16-pixel cell of the suite's 3 × 3 scenes.
        ["tiny-48"] = new(48, "48-pixel images, a 6 × 6 patch grid, 9 image tokens (one per cell of the built-in scenes' 3 × 3 grid)"),
    };

    public static IReadOnlyList<string> Names { get; } = [.. Table.Keys];

    /// <summary>One line per preset: its name and what it is.</summary>
    public static IEnumerable<string> Describe() => Table.Select(kv => $"{kv.Key}: {kv.Value.Description}");

    static Preset Find(string name) => Table.TryGetValue(name, out var preset) ? preset
        : throw new ArgumentException($"unknown model preset '{name}' (known: {string.Join(", ", Names)})");

    /// <summary>The preset's configuration. The tokenizer must have the image placeholder <c>&lt;|image_pad|&gt;</c> (and ChatML's turn tokens).</summary>
    public static VlmConfig Create(string name, BpeTokenizer tokenizer, string tokenizerPath)
    {
        var preset = Find(name);
        int imageToken;
        try { imageToken = tokenizer.SpecialTokenId(new ChatTemplate().ImagePlaceholder); }
        catch (KeyNotFoundException) { throw new ArgumentException($"{tokenizerPath}: no image placeholder token '{new ChatTemplate().ImagePlaceholder}', which a VLM needs"); }
        var text = new DecoderConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2, MaxPositions = 1024,
        };
        var vision = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 2, ImageSize = preset.ImageSize, PatchSize = 8 };
        return new VlmConfig { Text = text, Vision = vision, PixelShuffle = 2, ImageTokenId = imageToken };
    }
}

/// <summary>
/// Supervised fine-tuning as one call (<c>ril sft</c>, and the quickstart's first stage): loads or creates the model,
/// gathers (question, target) examples, trains with <see cref="SftTrainer"/> (loss on response tokens only) under AdamW
/// with linear warm-up and cosine decay, and writes the model directory atomically (into OUT.tmp, then renamed).
/// </summary>
public static class SftRun
{
    /// <summary>Steps averaged into <see cref="SftRunResult.FinalLoss"/>.</summary>
    public const int FinalLossWindow = 10;

    /// <summary>One example before rendering: a question and the text to imitate, or (<paramref name="Text"/> null) a conversation.</summary>
    internal sealed record Target(DatasetRow Row, string? Text);

    /// <summary>
    /// Trains as <paramref name="options"/> say and writes the model directory. <paramref name="log"/> gets one line once the
    /// model and examples are ready (what is trained on what); <paramref name="progress"/> gets every step.
    /// </summary>
    public static SftRunResult Run(SftRunOptions options, Action<SftProgress>? progress = null, Action<string>? log = null)
    {
        if (options.Steps < 1) throw new ArgumentException($"--steps must be at least 1, got {options.Steps}");
        if (options.BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {options.BatchSize}");
        if (!(options.LearningRate > 0) || !float.IsFinite(options.LearningRate)) throw new ArgumentException($"--lr must be positive, got {options.LearningRate}");
        if (options.WarmupSteps is < 0) throw new ArgumentException($"--warmup must not be negative, got {options.WarmupSteps}");
        var outDir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.OutDir));
        RefuseToOverwrite(outDir);

        var (policy, tokenizerPath) = LoadOrCreate(options);
        var rows = DatasetSource.Load(options.DataPath, options.Keys, policy.AcceptsImages ? ImageMode.Require : ImageMode.TextOnly);
        if (rows.Count == 0) throw new ArgumentException($"{options.DataPath}: no questions");
        var conversations = rows.Where(r => r.Messages != null).Select(r => new Target(r, null)).ToList();
        var questions = rows.Where(r => r.Messages == null).ToList();
        if (conversations.Count > 0 && options.TeachersPath is not null)
            throw conversations[0].Row.Error("messages", "a conversation row trains on its own assistant turns; --teachers goes with question rows");
        var targets = questions.Count == 0 ? conversations
            : [.. conversations, .. options.TeachersPath is null ? GoldSolutions(questions) : TeacherResponses(questions, options.TeachersPath, options.Teachers, options.DataPath)];

        // Examples longer than the model's context cannot be trained on whole; leave them out rather than cut them.
        var flow = new DataFlow(rows, policy, options.Seed);
        int context = policy.ContextLength;
        int Length(Target t) => t.Text is null
            ? SftTrainer.Conversation(policy, t.Row) is var c ? c.PromptIds.Length + c.Response.Length : 0
            : policy.PromptIds(t.Row).Length + SftTrainer.ResponseTokens(policy, t.Text).Length;
        var fitting = targets.Where(t => Length(t) <= context).ToList();
        if (fitting.Count == 0) throw new ArgumentException($"{options.DataPath}: no example fits the model's {context} positions");

        var source = options.ModelDir ?? $"a fresh '{options.Init}' model";
        var what = options.TeachersPath is null ? $"the {(conversations.Count == 0 ? "gold solutions" : questions.Count == 0 ? "conversations' assistant turns" : "conversations' assistant turns and gold solutions")} of {options.DataPath}"
            : $"the responses of {(options.Teachers.Count == 0 ? "every teacher" : string.Join(", ", options.Teachers))} in {options.TeachersPath}";
        log?.Invoke($"sft: {source} ({policy.Parameters().Sum(p => (long)p.Length) / 1e6:F2}M parameters) on {what}: {fitting.Count} examples" +
                    (fitting.Count < targets.Count ? $" ({targets.Count - fitting.Count} longer than the model's {context} positions left out)" : "") +
                    $", {options.Steps} steps of {options.BatchSize}");

        var optimizer = new AdamW(policy.Parameters().ToList(), options.LearningRate, 0f);
        var schedule = new WarmupCosineLr(options.LearningRate, options.WarmupSteps ?? Math.Max(1, options.Steps / 10), options.Steps, options.LearningRate / 10);
        var trainer = new SftTrainer(policy, optimizer, gradClip: 1f, schedule, options.Pack);

        var order = new ExampleOrder(fitting.Count, options.Seed);
        var losses = new List<float>(options.Steps);
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < options.Steps; step++)
        {
            var batch = order.Next(options.BatchSize).Select(i =>
            {
                if (fitting[i].Text is not { } text) return SftTrainer.Conversation(policy, fitting[i].Row);
                var question = flow.Render(fitting[i].Row);
                return new SftExample(question.PromptIds, question.Pixels, SftTrainer.ResponseTokens(policy, text));
            }).ToList();
            float lr = schedule.At(step);
            losses.Add(trainer.Step(batch));
            tokens += batch.Sum(e => e.PromptIds.Length + e.Response.Length);
            progress?.Invoke(new SftProgress(step + 1, options.Steps, losses[^1], lr, tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed));
        }

        WriteModelDirectory(outDir, policy, tokenizerPath);
        return new SftRunResult(losses[0], losses.TakeLast(FinalLossWindow).Average(), options.Steps, fitting.Count,
            targets.Count - fitting.Count, outDir, clock.Elapsed);
    }

    static (ChatModel Policy, string TokenizerPath) LoadOrCreate(SftRunOptions options)
    {
        if ((options.ModelDir is null) == (options.Init is null))
            throw new ArgumentException("give either --model DIR (a model directory to fine-tune) or --init PRESET (a fresh model, with --tokenizer FILE or a tokenizer trained on the data)");
        if (options.ModelDir is { } dir)
        {
            if (options.TokenizerPath is not null) throw new ArgumentException("--tokenizer goes with --init: a --model directory brings its own tokenizer.json");
            var chat = ChatModel.Load(dir);
            if (chat.AcceptsImages) chat.CheckTemplate();
            return (chat, Path.Combine(dir, "tokenizer.json"));
        }
        var tokenizerPath = options.TokenizerPath ?? TrainTokenizer(options.DataPath, options.TeachersPath, options.Keys,
            Path.Combine(Path.GetTempPath(), $"ril-tokenizer-{Guid.NewGuid():N}.json"));
        var tokenizer = BpeTokenizer.Load(tokenizerPath);
        var config = ModelPresets.Create(options.Init!, tokenizer, tokenizerPath);
        var model = VisionLanguageModel.Create(config, new Rng(options.Seed));
        return (RilVlmFamily.Chat(model, tokenizer), tokenizerPath);
    }

    /// <summary>Vocabulary of the tokenizer <see cref="TrainTokenizer(string, string?, string)"/> makes: enough for the built-in suite's words.</summary>
    public const int TrainedVocabulary = 512;

    /// <summary>
    /// A byte-level BPE tokenizer (<see cref="TrainedVocabulary"/> tokens, ChatML's and the image's special tokens) trained
    /// on a dataset's questions and solutions and, when given, a teacher cache's responses; written to
    /// <paramref name="outPath"/>. For a fresh student with no tokenizer of its own (`ril sft --init` without --tokenizer).
    /// </summary>
    public static string TrainTokenizer(string dataPath, string? teachersPath, string outPath) => TrainTokenizer(dataPath, teachersPath, DatasetKeys.Maye, outPath);

    /// <inheritdoc cref="TrainTokenizer(string, string?, string)"/>
    public static string TrainTokenizer(string dataPath, string? teachersPath, DatasetKeys keys, string outPath)
    {
        var rows = DatasetSource.Load(dataPath, keys, ImageMode.TextOnly);
        var texts = rows.SelectMany(r => r.Messages?.Select(m => m.Content) ?? [r.Question, r.Solution ?? ""]);
        if (teachersPath is not null)
        {
            var cache = TeacherCache.Load(teachersPath);
            texts = texts.Concat(cache.QuestionIds.SelectMany(id => cache.Get(id)).Select(r => r.Response));
        }
        BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = TrainedVocabulary }).Save(outPath);
        return outPath;
    }

    internal static List<Target> GoldSolutions(IReadOnlyList<DatasetRow> rows)
    {
        var missing = rows.FirstOrDefault(r => string.IsNullOrEmpty(r.Solution));
        if (missing is not null)
            throw new DataFormatException(missing.SourceFile, missing.LineNumber, "solution", "missing or empty: SFT on gold solutions needs one on every row (or give --teachers)");
        return rows.Select(r => new Target(r, r.Solution!)).ToList();
    }

    internal static List<Target> TeacherResponses(IReadOnlyList<DatasetRow> rows, string cachePath, IReadOnlyList<string> teachers, string dataPath)
    {
        var cache = TeacherCache.Load(cachePath);
        foreach (var name in teachers)
            if (!cache.Teachers.Contains(name))
                throw new ArgumentException($"{cachePath}: no responses from teacher '{name}' (it has: {string.Join(", ", cache.Teachers)})");
        var chosen = teachers.Count == 0 ? cache.Teachers.ToList() : teachers.Distinct().ToList();
        var targets = rows.SelectMany(row => chosen.SelectMany(teacher => cache.Get(row.Id, teacher)).Select(r => new Target(row, r.Response))).ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"{cachePath}: no response of {string.Join(", ", chosen)} answers a question of {dataPath} (do the ids match?)");
        return targets;
    }

    static void RefuseToOverwrite(string outDir)
    {
        if (File.Exists(outDir)) throw new IOException($"{outDir} is a file; --out names the model directory to write");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new IOException($"{outDir} already exists and is not empty: choose another --out, or remove it first");
    }

    /// <summary>
    /// config.json, model.safetensors and the processor's files (tokenizer.json with its tokenizer_config.json, chat
    /// template and generation defaults, where the source has them) into OUT.tmp, then renamed to OUT, so OUT is never half-written.
    /// </summary>
    static void WriteModelDirectory(string outDir, ChatModel policy, string tokenizerPath)
    {
        RefuseToOverwrite(outDir);   // again: something may have appeared there while training
        var temporary = outDir + ".tmp";
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);   // left by an interrupted run
        policy.Save(temporary);   // from a model directory: its processor files too
        if (!File.Exists(Path.Combine(temporary, "tokenizer.json")))
        {
            File.Copy(tokenizerPath, Path.Combine(temporary, "tokenizer.json"));
            // The tokenizer reads its end and pad tokens from a tokenizer_config.json beside it: keep that pair together.
            var tokenizerConfig = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerPath))!, "tokenizer_config.json");
            if (File.Exists(tokenizerConfig)) File.Copy(tokenizerConfig, Path.Combine(temporary, "tokenizer_config.json"));
        }
        if (Directory.Exists(outDir)) Directory.Delete(outDir);   // empty, checked above
        Directory.Move(temporary, outDir);
    }

    /// <summary>Example indices in a seeded shuffled order, epoch after epoch.</summary>
    sealed class ExampleOrder(int count, ulong seed)
    {
        int[] _order = [];
        int _position, _epoch = -1;

        public IEnumerable<int> Next(int n)
        {
            var batch = new int[n];
            for (int i = 0; i < n; i++)
            {
                if (_position == _order.Length)
                {
                    _epoch++;
                    _order = Enumerable.Range(0, count).ToArray();
                    new Rng(seed + (ulong)_epoch * 1_000_003UL).Shuffle(_order);
                    _position = 0;
                }
                batch[i] = _order[_position++];
            }
            return batch;
        }
    }
}

using System.Diagnostics;
using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// One RIL-like step on a Qwen2-0.5B-layout model (random weights) trained through LoRA with its frozen base in bf16:
/// rollouts with a KV cache; π_old with the adapters on and π_ref with them off (the same weights); the discriminator —
/// a scalar-head model sharing the student's frozen base, with adapters of its own — scores the responses (the reward)
/// and takes one BCE step on student against teacher rows; then a Dr.GRPO policy update through PolicyUpdater with a KL
/// term. 2 questions × G = 4, prompts of 32 tokens, responses of 32, micro-batch 4. Prints the step's time, its
/// breakdown, the memory breakdown and peak resident memory, and what full fine-tuning would need.
/// <see cref="Step"/> runs the same step on another model (Qwen3VlBench: a Qwen3-VL-2B layout with images).
/// Usage: lora [--steps N] [--layers N] [--rank R] [--float32-base] [--recompute] [--old-logprobs recompute|sampler] [--encode-per-pass]
/// [--pack | --share-prompt] [--micro-batch N] [--d-micro-batch N] [--d-prompt] [--d-share-prefix] [--lora-dropout P]
/// (--old-logprobs sampler: π_old from the sampler, as trainer.old_logprobs: sampler; --encode-per-pass: no ImageFeatureCache,
/// each row's images encoded again in every pass; --pack, --share-prompt: trainer.pack, trainer.share_prompt for π_ref and
/// the update; --micro-batch: the rows of a log-prob or update forward, default 4, trainer.micro_batch_size's 8;
/// --d-micro-batch: the discriminator's rows a forward in its step, default 4, discriminator.micro_batch_size's 16;
/// --d-prompt: each of D's rows is the product's discriminator prompt around the response (Discriminator.Frame, ChatML in
/// Qwen's tokenizer), not the response alone; --d-share-prefix: discriminator.share_prefix, the prefix D's rows share computed once a forward;
/// --lora-dropout: both adapters' dropout, default 0.05)
/// (steps default 2, the last one's parts printed, with the median (the lower middle) of the steps after the first; layers default 24, the real depth).
/// </summary>
public static class LoraBench
{
    /// <summary>Qwen2-0.5B's config.json (494M parameters, tied embeddings).</summary>
    internal static DecoderConfig Qwen2HalfB(int layers) => new()
    {
        ModelType = "qwen2", VocabSize = 151936, HiddenSize = 896, IntermediateSize = 4864, NumLayers = layers, NumHeads = 14, NumKvHeadsField = 2,
        RmsNormEps = 1e-6f, RopeTheta = 1_000_000f, MaxPositions = 32768, TieWordEmbeddings = true, AttentionBias = true,
    };

    const int Questions = 2, Group = 4, PromptTokens = 32, ResponseTokens = 32, MicroBatch = 4;   // trainer.micro_batch_size's default is 8

    /// <summary>What the step trains: the model, its decoder (LoRA, D's shared base), its chat model and a question maker.</summary>
    public sealed record Subject(string Label, ICausalLM Model, DecoderLM Text, ChatModel Policy, Func<int, Rng, Question> Question)
    {
        /// <summary>The vision tower alone, when the model has one: timed once per step over the step's images.</summary>
        public Func<PixelInputs, object>? Tower { get; init; }
    }

    public static void Run(string[] args)
    {
        var setup = Stopwatch.StartNew();
        int layers = Option(args, "--layers", 24);
        var rng = new Rng(7);
        var tokenizer = TestTokenizer();
        var vlm = VisionLanguageModel.Create(Qwen2HalfB(layers), null, 1, -1, rng);
        var policy = RilVlmFamily.Chat(vlm, tokenizer);
        Step(args, new Subject($"Qwen2-0.5B layout, {layers} layers", vlm, vlm.Text, policy, (q, r) => new Question(
            new DatasetRow($"q{q}", "bench", "0", null, null, new JsonObject(), "bench", q + 1),
            Enumerable.Range(0, PromptTokens).Select(_ => r.NextInt(tokenizer.VocabSize)).ToArray(), null)), rng, setup);
    }

    /// <summary>A comma-separated list of integers after <paramref name="name"/> (--images 1,8), or <paramref name="fallback"/>.</summary>
    internal static int[] Ints(string[] args, string name, int[] fallback) =>
        args.SkipWhile(a => a != name).Skip(1).Select(v => v.Split(',').Select(int.Parse).ToArray()).FirstOrDefault(fallback);

    internal static string Value(string[] args, string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault(fallback);

    internal static int Option(string[] args, string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).Select(int.Parse).FirstOrDefault(fallback);

    /// <summary>tests/fixtures/tokenizer/trained/tokenizer.json, found above the benchmark's folder.</summary>
    internal static BpeTokenizer TestTokenizer()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Ril.sln"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Ril.sln not found above the benchmark");
        return BpeTokenizer.Load(Path.Combine(root, "tests", "fixtures", "tokenizer", "trained", "tokenizer.json"));
    }

    /// <summary>The RIL-like step of the class summary on <paramref name="subject"/>; <paramref name="setup"/> started before it was built.</summary>
    public static void Step(string[] args, Subject subject, Rng rng, Stopwatch setup)
    {
        int steps = Option(args, "--steps", 2), rank = Option(args, "--rank", 16);
        bool bf16 = !args.Contains("--float32-base"), recompute = args.Contains("--recompute"), full = args.Length > 0 && args[0] == "full";
        bool pack = args.Contains("--pack"), sharePrompt = args.Contains("--share-prompt");   // trainer.pack, trainer.share_prompt
        int micro = Option(args, "--micro-batch", MicroBatch);                                    // trainer.micro_batch_size (its default is 8)
        int dMicro = Option(args, "--d-micro-batch", MicroBatch);                                 // discriminator.micro_batch_size (its default is 16)
        bool dPrompt = args.Contains("--d-prompt"), dSharePrefix = args.Contains("--d-share-prefix");   // D's own prompt around each response; discriminator.share_prefix
        if (micro < 1 || Questions * Group % micro != 0) throw new ArgumentException($"--micro-batch {micro}: a divisor of the step's {Questions * Group} rows");
        bool fromSampler = Value(args, "--old-logprobs", "recompute") switch
        {
            "sampler" => true, "recompute" => false, var other => throw new ArgumentException($"--old-logprobs {other}: sampler or recompute"),
        };
        var (vlm, policy) = (subject.Model, subject.Policy);
        var tokenizer = policy.Processor.Tokenizer;
        subject.Text.RecomputeActivations = recompute;
        var lora = new LoraConfig { Rank = rank, Alpha = 2 * rank, Dropout = float.Parse(Value(args, "--lora-dropout", "0.05"), System.Globalization.CultureInfo.InvariantCulture) };
        // LoRA: adapters on the student's decoder, and D a scalar head over the same frozen base with adapters of its own.
        // Full: the student's decoder trains in float32 (the rest frozen), and D is a second decoder of the same size, trained in full.
        var studentAdapters = full ? null : LoraAdapters.Attach(subject.Text, lora, rng);
        var backbone = full ? new DecoderLM(subject.Text.Config, rng) : subject.Text.SharingWeights();
        backbone.RecomputeActivations = recompute;
        var discriminator = new ScalarHeadModel(backbone, rng);
        var dAdapters = full ? null : LoraAdapters.Attach(backbone, lora, rng);
        var studentTrained = full ? subject.Text.Parameters().ToList() : studentAdapters!.Parameters().ToList();
        var trainedSet = studentTrained.ToHashSet();
        foreach (var p in vlm.Parameters()) p.RequiresGrad = trainedSet.Contains(p);
        if (bf16) FrozenWeights.StoreInBf16(vlm.Parameters());
        long baseParameters = vlm.Parameters().Sum(p => (long)p.Length);

        var rl = new RlConfig { Objective = Objective.DrGrpo, KlCoef = full ? 0 : 0.04f, MaxResponseTokens = ResponseTokens, MiniBatchSize = Questions * Group, MicroBatchSize = micro, LearningRate = 1e-5f,
            Pack = pack, SharePrompt = sharePrompt };
        var updater = new PolicyUpdater(policy, new AdamW(studentTrained, rl.LearningRate), rl);
        var dTrained = (full ? backbone.Parameters() : dAdapters!.Parameters()).Append(discriminator.Score).ToList();
        var dOptimizer = new AdamW(dTrained, 1e-5f);
        long trained = studentTrained.Concat(dTrained).Sum(p => (long)p.Length);
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);   // hand the float32 originals back to the system
        Console.WriteLine(full
            ? $"# full: {subject.Label}, {baseParameters / 1e6:F0}M parameters (the decoder's trained in float32, the rest {(bf16 ? "bf16" : "float32")} frozen), " +
              $"D a second decoder: {trained / 1e6:F1}M trained; no KL term; recompute={(recompute ? "yes" : "no")}; old log-probs from the {(fromSampler ? "sampler" : "forward")}; threads={WorkerPool.Shared.Threads}; set-up {setup.Elapsed.TotalSeconds:F0} s, rss {MemoryBreakdown.ResidentBytes() >> 20} MB"
            : $"# lora: {subject.Label}, {baseParameters / 1e6:F0}M base parameters ({(bf16 ? "bf16" : "float32")}, shared by student and discriminator), " +
              $"LoRA r={rank} on {string.Join("/", lora.TargetModules)}: {trained / 1e6:F2}M trained; recompute={(recompute ? "yes" : "no")}; old log-probs from the {(fromSampler ? "sampler" : "forward")}; threads={WorkerPool.Shared.Threads}; set-up {setup.Elapsed.TotalSeconds:F0} s, rss {MemoryBreakdown.ResidentBytes() >> 20} MB");
        MemoryBreakdown.ResetPeakResident();

        var questions = Enumerable.Range(0, Questions).Select(q => subject.Question(q, rng)).ToList();
        var generator = new Generator(vlm, null, policy.PadId);
        var sampling = new SamplingOptions { Temperature = 1f, MaxNewTokens = ResponseTokens };
        StepTimes times = default;
        var totals = new List<double>();   // every step's time after the first (which pays the first touch of every buffer)
        long activations = 0;
        for (int step = 0; step < steps; step++)
        {
            double visionSeconds = 0;
            if (subject.Tower is not null && questions.All(q => q.Pixels is not null))
                using (NoGrad.Begin())
                using (TensorScope.Begin())
                {
                    var sw = Stopwatch.StartNew();
                    subject.Tower(PixelInputs.Concat(questions.Select(q => q.Pixels!).ToList()));
                    visionSeconds = sw.Elapsed.TotalSeconds;
                }
            using var images = args.Contains("--encode-per-pass") ? null : ImageFeatureCache.Begin();   // each question's image once per step
            var (gcPause, gcCount) = (GC.GetTotalPauseDuration(), GC.CollectionCount(0));
            var (cpu, faults) = (System.Diagnostics.Process.GetCurrentProcess(), MemoryBreakdown.MinorPageFaults());
            var (userCpu, systemCpu) = (cpu.UserProcessorTime, cpu.PrivilegedProcessorTime);
            var clock = Stopwatch.StartNew();
            // Rollouts.
            IReadOnlyList<IReadOnlyList<GeneratedSequence>> sequences = null!;
            long rolloutPeak = MemoryBreakdown.ActivationPeak(() => sequences = generator.Generate(questions.Select((q, i) => new GenerationRequest(q.PromptIds, Group, (ulong)(step * 100 + i), q.Pixels)).ToList(), sampling));
            var rollouts = sequences.SelectMany((group, q) => group.Select(s => new Rollout(q, Rollout.Student, s.TokenIds, "", s.FinishReason))).ToList();
            double rolloutSeconds = clock.Elapsed.TotalSeconds;

            // π_old (adapters on) and π_ref (adapters off): one set of weights.
            int rows = rollouts.Count, L = ResponseTokens;
            var old = new float[rows * L];
            if (fromSampler)                                                          // trainer.old_logprobs: sampler
            {
                var sampled = sequences.SelectMany(group => group).ToList();
                for (int r = 0; r < rows; r++) sampled[r].LogProbs.AsSpan(0, Math.Min(L, sampled[r].LogProbs.Length)).CopyTo(old.AsSpan(r * L));
            }
            var reference = new float[rows * L];
            long logProbPeak = MemoryBreakdown.ActivationPeak(() =>
            {
                using (NoGrad.Begin())
                    for (int start = 0; start < rows; start += micro)
                    {
                        using var scope = TensorScope.Begin();
                        var batch = TrajectoryBuilder.Rows(questions, rollouts, start, micro, L);
                        if (!fromSampler) ResponseLogProbs.Compute(policy, batch, L, pack: pack, sharePrompt: sharePrompt).LogProbs.Data.CopyTo(old.AsSpan(start * L));
                        if (studentAdapters is not null)
                            using (studentAdapters.Disabled()) ResponseLogProbs.Compute(policy, batch, L, pack: pack, sharePrompt: sharePrompt).LogProbs.Data.CopyTo(reference.AsSpan(start * L));
                    }
            });
            double logProbSeconds = clock.Elapsed.TotalSeconds - rolloutSeconds;

            // The discriminator: rewards (no grad), then one BCE step on the student's rows against as many teacher rows.
            // Each row is a response (L tokens), or with --d-prompt the product's prompt around it (Discriminator.Frame), in
            // ChatML tokenised by Qwen's tokenizer (the bench's own small tokenizer would make it twice as long).
            var (before, after) = dPrompt ? new Discriminator(discriminator, new ChatMlProcessor(QwenTokenizer()), DiscriminatorInput.Response, L).Frame("") : ([], []);
            int[] InPrompt(IEnumerable<int> response) => [.. before, .. response, .. after];
            var studentRows = rollouts.Select(r => InPrompt(r.Tokens.Take(L))).ToList();
            var teacherRows = Enumerable.Range(0, rows).Select(_ => InPrompt(Enumerable.Range(0, L).Select(_ => rng.NextInt(tokenizer.VocabSize)))).ToList();
            if (step == 0 && dPrompt)
                Console.WriteLine($"# discriminator rows: {before.Length} prompt tokens, {L} of response, {after.Length} after it; share_prefix={(dSharePrefix ? "yes" : "no")}");
            float[] rewards;
            using (NoGrad.Begin())
            using (TensorScope.Begin())
                rewards = discriminator.Forward(studentRows, policy.PadId, dSharePrefix).ToArray().Select(s => 1f / (1f + MathF.Exp(s))).ToArray();   // 1 − D
            double rewardSeconds = clock.Elapsed.TotalSeconds - rolloutSeconds - logProbSeconds;
            long dActivations = MemoryBreakdown.ActivationPeak(() =>
            {
                // The student's rows then the teacher's, dMicro rows a forward (discriminator.micro_batch_size).
                List<int[]> dRows = [.. studentRows, .. teacherRows];
                float[] labels = [.. Enumerable.Repeat(1f, rows), .. Enumerable.Repeat(0f, rows)];
                for (int start = 0; start < 2 * rows; start += dMicro)
                {
                    using var scope = TensorScope.Begin();
                    int n = Math.Min(dMicro, 2 * rows - start);
                    var scores = discriminator.Forward(dRows.GetRange(start, n), policy.PadId, dSharePrefix);
                    Discriminator.Loss(scores, labels[start..(start + n)], n / (2f * rows)).Backward();
                }
                dOptimizer.Step();
                dOptimizer.ZeroGrad();
            });
            double discriminatorSeconds = clock.Elapsed.TotalSeconds - rolloutSeconds - logProbSeconds - rewardSeconds;

            // The policy update.
            var trajectory = new Trajectory
            {
                Questions = questions, Rollouts = rollouts, GroupSize = Group, MaxLength = L, Mask = Enumerable.Repeat(1f, rows * L).ToArray(),
                OldLogProbs = old, RefLogProbs = studentAdapters is null ? null : reference, Rewards = rewards, RewardsByName = new() { ["discriminator"] = rewards },
                Advantages = Advantages.GroupRelative(rewards, Group, scaleByStd: false), TrainRows = Enumerable.Range(0, rows).ToArray(),
                Entropy = new float[rows * L], ZeroVarianceShare = 0, LogProbSeconds = logProbSeconds, RewardSeconds = rewardSeconds,
            };
            UpdateStats stats = null!;
            long policyActivations = MemoryBreakdown.ActivationPeak(() => stats = updater.Update(trajectory, rng));
            activations = Math.Max(dActivations, policyActivations);
            Console.WriteLine($"# step {step + 1} buffer peaks: rollout {rolloutPeak >> 20} MB, log-probs {logProbPeak >> 20} MB, discriminator {dActivations >> 20} MB, update {policyActivations >> 20} MB");
            times = new StepTimes(clock.Elapsed.TotalSeconds, visionSeconds, rolloutSeconds, logProbSeconds, rewardSeconds, discriminatorSeconds, stats.Seconds);
            if (step > 0) totals.Add(times.Total);
            Console.WriteLine($"# step {step + 1}: {times.Total:F1} s, policy loss {stats.Loss:F4}, kl {stats.Kl:G3}, rss {MemoryBreakdown.ResidentBytes() >> 20} MB, peak {MemoryBreakdown.PeakResidentBytes() >> 20} MB " +
                              $"(of which idle in the buffer pool {BufferPool.PooledBytes >> 20} MB, managed heap {GC.GetGCMemoryInfo().HeapSizeBytes >> 20} MB), " +
                              $"{GC.CollectionCount(0) - gcCount} garbage collections pausing {(GC.GetTotalPauseDuration() - gcPause).TotalSeconds:F1} s");
            cpu.Refresh();
            Console.WriteLine($"# step {step + 1} cpu: user {(cpu.UserProcessorTime - userCpu).TotalSeconds:F1} s, system {(cpu.PrivilegedProcessorTime - systemCpu).TotalSeconds:F1} s, " +
                              $"{(MemoryBreakdown.MinorPageFaults() - faults) / 1000}k minor page faults");
        }

        var memory = MemoryBreakdown.Measure(vlm.Parameters().Concat(studentAdapters?.Parameters() ?? []).Concat(dTrained).Distinct(), [updater.Optimizer, dOptimizer],
            activations, vlm.KvCacheBytes(Questions * Group, questions.Max(q => q.PromptIds.Length) + ResponseTokens));
        Console.WriteLine($"# memory: {memory}");
        // Full fine-tuning of both models: float32 weights, gradients and AdamW's two moments (16 bytes per parameter) for the
        // student and the discriminator, plus a float32 copy of the student as the KL reference (4 bytes per parameter).
        double fullGb = 36.0 * baseParameters / 1e9;
        if (!full) Console.WriteLine($"# full fine-tuning would hold {fullGb:F1} GB in weights, gradients and optimizer state (36 bytes/parameter) before activations");
        double median = totals.Count == 0 ? times.Total : totals.Order().ElementAt((totals.Count - 1) / 2);
        Console.WriteLine($"{(full ? "full" : "lora")} step_s={times.Total:F1} median_step_s={median:F1} steps_after_first={totals.Count} vision_once_s={times.Vision:F1} rollout_s={times.Rollout:F1} logprobs_s={times.LogProbs:F1} reward_s={times.Reward:F1} discriminator_s={times.Discriminator:F1} update_s={times.Update:F1} " +
                          $"peak_rss_mb={memory.PeakResident >> 20} weights_mb={memory.Weights >> 20} gradients_mb={memory.Gradients >> 20} optimizer_mb={memory.OptimizerState >> 20} " +
                          $"activations_mb={memory.Activations >> 20} kv_mb={memory.KvCaches >> 20}");
    }

    /// <summary>Qwen's tokenizer (tests/fixtures/tokenizer/qwen3), whose vocabulary the Qwen2-0.5B layout's ids cover.</summary>
    static BpeTokenizer QwenTokenizer() => BpeTokenizer.Load(Path.Combine(RepositoryRoot(), "tests", "fixtures", "tokenizer", "qwen3", "tokenizer.json"));

    /// <summary>The folder holding Ril.sln, above the benchmark's binaries.</summary>
    internal static string RepositoryRoot()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Ril.sln"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Ril.sln not found above the benchmark");
        return root;
    }

    /// <summary>The step's parts; Vision is the tower once over the step's images, apart from the step (the rollouts' prefill,
    /// the log-probs and the update each run it again inside their own time).</summary>
    readonly record struct StepTimes(double Total, double Vision, double Rollout, double LogProbs, double Reward, double Discriminator, double Update);
}

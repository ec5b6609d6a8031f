using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Data.Teachers;
using Ril.Evaluation;
using Ril.Text;
using Ril.Training;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril quickstart`: the README's main job, the whole RIL pipeline on built-in data with the same code as the verbs.
/// 1. the built-in suite (`ril data synth`); 2. scripted teachers' responses (`ril teachers synth`); 3. a BPE tokenizer
/// trained on the suite's text; 4. a tiny student trained by SFT on the gold solutions (`ril sft`); 5. the
/// discriminator pre-trained on student and teacher responses (`ril disc pretrain`); 6. RIL and 7. a Dr.GRPO baseline
/// from the same SFT student (`ril train`), each evaluated on val and test_ood before and after; 8. a table and the HTML
/// report (`ril report`). The recipes it writes are ordinary recipes: each stage can be rerun by hand.
/// </summary>
public static class QuickstartCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Folder for everything the quickstart makes (data, models, runs, report)", DefaultValueFactory = _ => Path.Combine("runs", "quickstart") };
        var steps = new Option<int>("--steps") { Description = "RL steps of RIL and of the Dr.GRPO baseline", DefaultValueFactory = _ => Defaults.RlSteps };
        var seed = new Option<int>("--seed") { Description = "Seed of the suite, the models and the runs", DefaultValueFactory = _ => 1 };
        var sftSteps = new Option<int>("--sft-steps") { Description = "SFT steps of the student", DefaultValueFactory = _ => Defaults.SftSteps };
        var rows = new Option<int>("--train-rows") { Description = "Training questions of the suite", DefaultValueFactory = _ => Defaults.TrainRows };
        var command = new Command("quickstart",
            "Run the whole pipeline on built-in data in minutes: suite, scripted teachers, tokenizer, SFT student, discriminator " +
            "pre-training, RIL and a Dr.GRPO baseline, then a table of validation and test_ood accuracy and an HTML report.")
            { output, steps, seed, sftSteps, rows };
        command.SetAction(parse => ErrorReporting.Run(() =>
            Run(parse.GetValue(output)!, parse.GetValue(steps), parse.GetValue(seed), parse.GetValue(sftSteps), parse.GetValue(rows))));
        return command;
    }

    /// <summary>The quickstart's scale: chosen so that the whole pipeline takes a few minutes on two cores.</summary>
    static class Defaults
    {
        public const int TrainRows = 5000, EvalRows = 128, TeacherResponses = 4;
        /// <summary>
        /// The student, rendered at 64 pixels and read at its 32: tiny-48 sees the scenes better (val 64 %) but falls below the
        /// blind baselines on test_ood (12 %), where tiny stays above them (docs/RESULTS.md §9).
        /// </summary>
        public const string Preset = "tiny";
        public const int ImageSize = 64;
        public const int SftSteps = 6000, SftBatch = 16;
        public const float SftLr = 3e-3f;
        public const int RlSteps = 60;
        public static readonly string[] Teachers = ["verifier"];
    }

    /// <summary>
    /// The teacher-guided method the quickstart runs beside Dr.GRPO, as recipe keys: the best of docs/RESULTS.md §8, RIL with
    /// the teacher out of the gradient (the discriminator's similarity reward and the answer reward; no teacher text in the loss).
    /// </summary>
    static class Method
    {
        public const string Name = "ril_teacher_out", Label = "RIL, teacher out";
        public const string Keys = "teacher_tokens: none";
    }

    static int Run(string outDir, int rlSteps, int seed, int sftSteps, int trainRows)
    {
        if (rlSteps < 1 || sftSteps < 1 || trainRows < 16) throw new ArgumentException("--steps and --sft-steps must be at least 1, --train-rows at least 16");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new ArgumentException($"{outDir} already exists: remove it or pass --out with another folder");
        var clock = Stopwatch.StartNew();
        void Stage(int n, string what) => Console.WriteLine($"\n[{n}/8] {what}  ({clock.Elapsed.TotalSeconds:F0} s)");
        var dataDir = Path.Combine(outDir, "data");

        Stage(1, $"built-in suite → {dataDir}");
        var summary = SuiteWriter.Write(dataDir, new SuiteOptions(Seed: seed, TrainRows: trainRows, ValRows: Defaults.EvalRows, TestRows: Defaults.EvalRows, ImageSize: Defaults.ImageSize));
        Console.WriteLine($"      {string.Join(", ", summary.RowsPerSplit.Select(kv => $"{kv.Key} {kv.Value}"))} rows");

        var teachersPath = Path.Combine(dataDir, "teachers.jsonl");
        Stage(2, $"scripted teachers {string.Join(" and ", Defaults.Teachers)} → {teachersPath}");
        var train = JsonlDataset.Load(Path.Combine(dataDir, "train.jsonl"), ImageMode.TextOnly);
        var (cache, correct) = ScriptedTeacher.WriteCache(train, Defaults.Teachers.Select(t => ScriptedTeacher.Named(t)).ToList(), Defaults.TeacherResponses, seed, teachersPath);
        Console.WriteLine($"      {cache.Count} responses, {correct:P0} correct");

        var tokenizerPath = Path.Combine(outDir, "tokenizer.json");
        Stage(3, $"BPE tokenizer ({SftRun.TrainedVocabulary} tokens) on the suite's text → {tokenizerPath}");
        SftRun.TrainTokenizer(Path.Combine(dataDir, "train.jsonl"), teachersPath, tokenizerPath);

        var studentDir = Path.Combine(outDir, "models", "sft");
        Stage(4, $"SFT of a '{Defaults.Preset}' student on the gold solutions, {sftSteps} steps → {studentDir}");
        var sft = SftRun.Run(new SftRunOptions
        {
            Init = Defaults.Preset, TokenizerPath = tokenizerPath, DataPath = Path.Combine(dataDir, "train.jsonl"), OutDir = studentDir,
            Steps = sftSteps, BatchSize = Defaults.SftBatch, LearningRate = Defaults.SftLr, Seed = (ulong)seed, Pack = true,
        }, p => { if (p.Step % 500 == 0 || p.Step == p.TotalSteps) Console.WriteLine($"      step {p.Step,4}/{p.TotalSteps}  loss {p.Loss:F3}  ({p.Elapsed.TotalSeconds:F0} s)"); },
           line => Console.WriteLine($"      {line}"));
        Console.WriteLine($"      loss {sft.FirstLoss:F3} → {sft.FinalLoss:F3}");

        var recipes = Path.Combine(outDir, "recipes");
        Directory.CreateDirectory(recipes);
        var runs = Path.Combine(outDir, "runs");
        var discriminatorDir = Path.Combine(outDir, "models", "discriminator");
        var rilRecipe = WriteRecipe(recipes, Method.Name, RecipeText("ril", studentDir, dataDir, runs, rlSteps, seed, teachersPath, discriminatorDir));
        var drRecipe = WriteRecipe(recipes, "dr_grpo", RecipeText("dr_grpo", studentDir, dataDir, runs, rlSteps, seed, null, null));

        Stage(5, $"discriminator pre-training → {discriminatorDir}");
        DiscriminatorCommands.Pretrain(Recipe.Load(rilRecipe), discriminatorDir);

        Stage(6, $"{Method.Label} from the SFT student, {rlSteps} steps (recipe {rilRecipe})");
        TrainCommand.Train(Recipe.Load(rilRecipe), resume: false);
        Stage(7, $"Dr.GRPO from the SFT student, {rlSteps} steps (recipe {drRecipe})");
        TrainCommand.Train(Recipe.Load(drRecipe), resume: false);

        Stage(8, "results");
        var ril = RunData.Load(Path.Combine(runs, Method.Name));
        var dr = RunData.Load(Path.Combine(runs, "dr_grpo"));
        Console.WriteLine(Table(ril, dr, dataDir));
        Console.WriteLine(Imitation(ril));
        var reportPath = Path.Combine(outDir, "report.html");
        RunReport.Write([ril.Directory, dr.Directory], reportPath, $"Ril quickstart: {Method.Label} and Dr.GRPO from the same SFT student");
        Console.WriteLine($"\nreport: {reportPath}   ({clock.Elapsed.TotalMinutes:F1} min in all)");
        return 0;
    }

    static string WriteRecipe(string dir, string name, string text)
    {
        var path = Path.Combine(dir, name + ".yaml");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>The quickstart's recipe of one algorithm (both share every setting but the algorithm's own).</summary>
    static string RecipeText(string algo, string model, string data, string runs, int steps, int seed, string? teachers, string? discriminator)
    {
        string F(float v) => v.ToString("R", CultureInfo.InvariantCulture);
        var ril = teachers is null ? "" : $"""
            ril:
              teacher_cache: {teachers}
              teachers: [{string.Join(", ", Defaults.Teachers)}]
              discriminator_init: {discriminator}
              {Method.Keys}
            discriminator:
              lr: {F(1e-4f)}
              updates: 1
            disc_pretrain:
              responses: 2
              questions: 128
              epochs: 2
              lr: {F(1e-3f)}
              final_lr: {F(1e-4f)}

            """;
        return $"""
            # Written by `ril quickstart`; rerun with: ril train --config THIS_FILE --name OTHER_NAME
            run:
              name: {(teachers is null ? algo : Method.Name)}
              out: {runs}
            model:
              path: {model}
            data:
              train: {data}/train.jsonl
              val: {data}/val.jsonl
              test: {data}/test_ood.jsonl
            trainer:
              algo: {algo}
              steps: {steps}
              questions_per_step: 8
              lr: {F(algo == "ril" ? 1e-4f : 2e-4f)}
              seed: {seed}
              mini_batch_size: {(algo == "ril" ? 64 : 32)}
              micro_batch_size: 16
            rollout:
              group_size: 4
              max_response_tokens: 128 # above the verifier teacher's ~90 tokens: a teacher response cut at L loses its answer
              temperature: 1.0        # the full distribution: RIL's student samples carry a negative advantage on
              top_p: 1.0              # average, and pushing down samples from a truncated distribution (top-p, top-k,
              top_k: 0                # repetition penalty) moves probability into the tail (docs/RESULTS.md)
              repetition_penalty: 1.0
            loss:
              kl_coef: {(algo == "ril" ? "0.01" : "0.0")}
            reward:
              answer: verifier
            eval:
              settings: 0.01:0.001:1
              max_new_tokens: 64
              every: {Math.Max(1, steps / 4)}
            checkpoint:
              every: {steps}
            {ril}
            """;
    }

    /// <summary>
    /// Greedy accuracy on val and test_ood: the SFT start (both runs' step-0 evaluation), each run's last evaluation, and
    /// two blind baselines (<see cref="AnswerPrior"/>): the training set's most common answer, and its most common answer
    /// to the same question text. A gain that stops at them is a learned prior, not perception.
    /// </summary>
    static string Table(RunData ril, RunData dr, string dataDir)
    {
        var setting = EvalSetting.Low.Name;
        static string Percent(double? v) => v is { } x ? $"{x:P1}".PadLeft(6) : "   -  ";
        string Cell(RunData run, string split, bool start)
        {
            var series = run.Accuracy(split, setting);
            return series.Count == 0 ? Percent(null) : Percent(start ? series.First().Value : series.Last().Value);
        }
        List<DatasetRow> Rows(string split) => JsonlDataset.Load(Path.Combine(dataDir, split + ".jsonl"), ImageMode.TextOnly).ToList();
        var prior = AnswerPrior.Fit(Rows("train"));
        var (val, test) = (Rows("val"), Rows("test_ood"));
        return string.Join("\n",
            "                       val (greedy)   test_ood (greedy)",
            $"SFT start              {Cell(dr, "val", true)}         {Cell(dr, "test", true)}",
            $"Dr.GRPO                {Cell(dr, "val", false)}         {Cell(dr, "test", false)}",
            Method.Label.PadRight(23) + $"{Cell(ril, "val", false)}         {Cell(ril, "test", false)}",
            $"always \\boxed{{{prior.Overall}}}".PadRight(23) + $"{Percent(prior.OverallAccuracy(val))}         {Percent(prior.OverallAccuracy(test))}",
            $"question prior         {Percent(prior.Accuracy(val))}         {Percent(prior.Accuracy(test))}",
            "(the last two rows never see the image: the most common training answer, and the most common training answer",
            " to the same question text; accuracy above them is perception, not a learned prior: docs/RESULTS.md)");
    }

    /// <summary>What RIL did besides accuracy: how often D took the student for a teacher, how well it told them apart, the length.</summary>
    static string Imitation(RunData ril)
    {
        double? Mean(string metric, bool first) => ril.FirstAndLastTenth(metric) is (var a, var b) ? (first ? a : b) : null;
        string F(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";
        string Change(string metric, string format) => $"{F(Mean(metric, true), format)} → {F(Mean(metric, false), format)}";
        return $"\n{Method.Label}, first → last tenth of its steps: similarity reward of the student's responses (the share the " +
               $"discriminator takes for a teacher's) {Change("ril/similarity_student", "F2")}; discriminator accuracy on student / teacher " +
               $"responses {F(Mean("disc/accuracy_student", true), "P0")} / {F(Mean("disc/accuracy_teacher", true), "P0")} → " +
               $"{F(Mean("disc/accuracy_student", false), "P0")} / {F(Mean("disc/accuracy_teacher", false), "P0")}; " +
               $"response length {Change("response/length_mean", "F0")} tokens.";
    }
}

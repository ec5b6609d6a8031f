using System.CommandLine;
using System.Globalization;
using Ril.Data;
using Ril.Hub;
using Ril.Training;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril sft`: supervised fine-tuning of a VLM on the gold solutions of a MAYE-format JSONL, or on a teacher cache's
/// responses to its questions; loss on response tokens only. Writes a model directory that `ril generate`, `ril eval`
/// and `ril train` load.
/// </summary>
public static class SftCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = $"Dataset with the questions (and images): {DatasetSource.ArgumentDescription}; its solutions are the targets unless --teachers is given; rows with messages (conversations) train on their assistant turns", Required = true };
        var keys = new DatasetKeyOptions();
        var teachers = new Option<string?>("--teachers") { Description = "Teacher cache (JSONL: id, teacher, response): imitate its responses to the questions of --data instead of the gold solutions" };
        var teacher = new Option<string[]>("--teacher") { Description = "With --teachers: imitate only this teacher (repeatable; default: every teacher in the cache)" };
        var model = new Option<string?>("--model") { Description = $"Model to fine-tune: {ModelLocation.ArgumentDescription}, holding config.json, model.safetensors (or shards), tokenizer.json" };
        var init = new Option<string?>("--init")
        {
            Description = "Start from a fresh model of this preset instead of --model: a 1-layer vision tower of width 32 on 8-pixel patches, pixel shuffle 2, " +
                          "a 2-layer decoder of width 64 with 1024 positions, sized for the built-in suite (render it at the preset's image size). " +
                          string.Join("; ", ModelPresets.Describe()),
        };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "With --init: the tokenizer.json of the fresh model (needs ChatML's tokens and <|image_pad|>); when omitted, a 512-token BPE is trained on the data's text (and the teachers' responses)" };
        var output = new Option<string>("--out") { Description = "Model directory to write (config.json, model.safetensors, tokenizer.json); must not exist or be empty", Required = true };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps", DefaultValueFactory = _ => 200 };
        var batchSize = new Option<int>("--batch-size") { Description = "Examples (question and target) per step", DefaultValueFactory = _ => 8 };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate of AdamW (the default suits the tiny preset; about 1e-5 suits a pretrained model)", DefaultValueFactory = _ => 1e-3f };
        var warmup = new Option<int?>("--warmup") { Description = "Linear warm-up steps before the cosine decay to lr/10 at the last step (default: a tenth of --steps)" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed: the fresh model's weights and the order of the examples", DefaultValueFactory = _ => 1UL };
        var pack = new Option<bool>("--pack")
        {
            Description = "Pack each batch's examples end to end into rows as long as its longest one (each attends to itself alone, positions " +
                          "restart): the same loss as one padded row per example, with fewer padded positions computed",
        };
        var logEvery = new Option<int>("--log-every") { Description = "Print a progress line every N steps", DefaultValueFactory = _ => 10 };
        var command = new Command("sft",
            "Supervised fine-tuning: train a model (--model, a directory or a Hub id; or a fresh --init model) to imitate the gold solutions of a dataset, " +
            "or teachers' cached responses, or a conversation dataset (messages) rendered through the model's chat template; the loss is on response tokens only " +
            "(a conversation's assistant turns, each through its end-of-turn token). Prints progress and the final loss, and writes a model directory.")
            { data, teachers, teacher, model, init, tokenizer, output, steps, batchSize, lr, warmup, seed, pack, logEvery };
        keys.AddTo(command);
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var chosen = parse.GetValue(teacher) ?? [];
            if (chosen.Length > 0 && parse.GetValue(teachers) is null) throw new ArgumentException("--teacher picks teachers of a cache: give the cache with --teachers");
            var options = new SftRunOptions
            {
                DataPath = parse.GetValue(data)!, Keys = keys.Keys(parse), TeachersPath = parse.GetValue(teachers), Teachers = chosen,
                ModelDir = parse.GetValue(model) is { } m ? ModelArgument.Resolve(m) : null, Init = parse.GetValue(init), TokenizerPath = parse.GetValue(tokenizer),
                OutDir = parse.GetValue(output)!, Steps = parse.GetValue(steps), BatchSize = parse.GetValue(batchSize),
                LearningRate = parse.GetValue(lr), WarmupSteps = parse.GetValue(warmup), Seed = parse.GetValue(seed),
                Pack = parse.GetValue(pack),
            };
            int every = Math.Max(1, parse.GetValue(logEvery));
            var result = SftRun.Run(options, p =>
            {
                if (p.Step % every == 0 || p.Step == 1 || p.Step == p.TotalSteps)
                    Console.WriteLine(Invariant($"step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:0.0e+0}  {p.TokensPerSecond:F0} tok/s  {p.Elapsed.TotalSeconds:F1} s"));
            }, Console.WriteLine);
            Console.WriteLine(Invariant($"final loss {result.FinalLoss:F4} (mean of the last {Math.Min(SftRun.FinalLossWindow, result.Steps)} steps; first step {result.FirstLoss:F4}) ") +
                              Invariant($"on {result.Examples} examples in {result.Elapsed.TotalSeconds:F1} s; model: {result.OutDir}"));
            return 0;
        }));
        return command;
    }

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

using System.Diagnostics;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Data.Teachers;
using Ril.Models;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Tensors.Kernels;
using Ril.Tensors.Optim;
using Ril.Text;
using Ril.Training;

namespace Ril.Bench;

/// <summary>
/// SFT steps of the quickstart's tiny student on the built-in suite (512 training questions at 32 pixels), one padded
/// row per example against packed rows (<see cref="ResponseLogProbs"/>), on two kinds of targets: the gold solutions
/// and the scripted teachers' responses (terse and grouper, whose lengths differ more). The same batches and a model
/// from the same seed in both layouts; per layout the median step time over 30 steps (after a pass over every run that
/// warms the JIT), the tokens trained per second, the rows of the forward per step and the positions it computes per real
/// token, and the loss of the
/// last step (equal up to rounding).
/// </summary>
public static class SftBench
{
    public static void Run(string[] args)
    {
        int batchSize = args.Length > 0 ? int.Parse(args[0]) : 16;
        var dir = Path.Combine(Path.GetTempPath(), $"ril-sft-bench-{Guid.NewGuid():N}");
        try
        {
            SuiteWriter.Write(dir, new SuiteOptions(Seed: 1, TrainRows: 512, ValRows: 8, TestRows: 8, ImageSize: 32));
            var trainPath = Path.Combine(dir, "train.jsonl");
            var imageRows = JsonlDataset.Load(trainPath, ImageMode.Require);
            var teachersPath = Path.Combine(dir, "teachers.jsonl");
            ScriptedTeacher.WriteCache(imageRows, [ScriptedTeacher.Named("terse"), ScriptedTeacher.Named("grouper")], 2, 1, teachersPath);
            var tokenizerPath = SftRun.TrainTokenizer(trainPath, teachersPath, Path.Combine(dir, "tokenizer.json"));
            var tokenizer = BpeTokenizer.Load(tokenizerPath);
            var config = ModelPresets.Create("tiny", tokenizer, tokenizerPath);
            var cache = TeacherCache.Load(teachersPath);
            long parameters = VisionLanguageModel.Create(config.Text, config.Vision, config.PixelShuffle, config.ImageTokenId, new Rng(1)).Parameters().Sum(p => (long)p.Length);
            Console.WriteLine($"# sft: tiny preset ({parameters / 1e6:F2}M parameters), batch {batchSize}, threads={WorkerPool.Shared.Threads}");
            var runs = new (string Name, Func<DatasetRow, IEnumerable<string>> Targets, bool Pack)[]
            {
                ("gold", r => [r.Solution!], false), ("gold", r => [r.Solution!], true),
                ("teachers", r => cache.Get(r.Id).Select(t => t.Response), false), ("teachers", r => cache.Get(r.Id).Select(t => t.Response), true),
            };
            // A first pass over every run warms the JIT and the buffer pool for all of them; the second is measured.
            foreach (var run in runs) Measure(run.Targets, run.Pack);
            Console.WriteLine("targets   layout  step_ms  tok_s  rows_per_step  positions_per_token  last_loss");
            foreach (var run in runs)
            {
                var (stepSeconds, tokensPerSecond, rowsPerStep, positionsPerToken, loss) = Measure(run.Targets, run.Pack);
                Console.WriteLine($"{run.Name,-9} {(run.Pack ? "packed" : "padded"),-7} {stepSeconds * 1e3,7:F1}  {tokensPerSecond,5:F0}  {rowsPerStep,13:F1}  {positionsPerToken,19:F2}  {loss,9:F4}");
            }

            (double StepSeconds, double TokensPerSecond, double RowsPerStep, double PositionsPerToken, float Loss) Measure(Func<DatasetRow, IEnumerable<string>> targets, bool pack)
            {
                var model = VisionLanguageModel.Create(config.Text, config.Vision, config.PixelShuffle, config.ImageTokenId, new Rng(1));
                var policy = RilVlmFamily.Chat(model, tokenizer);
                var flow = new DataFlow(imageRows, policy, 1);
                var examples = imageRows.SelectMany(r => targets(r).Select(text => (Row: r, Text: text))).ToList();
                var trainer = new SftTrainer(policy, new AdamW(policy.Parameters().ToList(), 1e-3f, 0f), pack: pack);
                var rng = new Rng(7);
                var times = new List<double>();
                long tokens = 0, positions = 0, forwardRows = 0;
                float loss = 0;
                for (int step = 0; step < 30; step++)
                {
                    var batch = Enumerable.Range(0, batchSize).Select(_ => examples[rng.NextInt(examples.Count)]).Select(e =>
                    {
                        var q = flow.Render(e.Row);
                        return new SftExample(q.PromptIds, q.Pixels, SftTrainer.ResponseTokens(policy, e.Text));
                    }).ToList();
                    var clock = Stopwatch.StartNew();
                    loss = trainer.Step(batch);
                    times.Add(clock.Elapsed.TotalSeconds);
                    tokens += batch.Sum(e => e.PromptIds.Length + e.Response.Length);
                    var layout = ForwardLayout(policy, batch, pack);
                    forwardRows += layout.Inputs.Rows;
                    positions += layout.Inputs.Ids.Length;
                }
                times.Sort();
                return (times[times.Count / 2], tokens / times.Sum(), forwardRows / (double)times.Count, positions / (double)tokens, loss);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>The forward's layout of a batch (its rows, and its positions real and padding), as the trainer builds it.</summary>
    static ResponseLogProbs.Layout ForwardLayout(ChatModel policy, IReadOnlyList<SftExample> batch, bool pack)
    {
        var rows = batch.Select(e => new ResponseLogProbs.Row(e.PromptIds, e.Pixels, e.Response)).ToList();
        int maxLen = rows.Max(r => r.Response.Length);
        return pack ? ResponseLogProbs.Layout.Packed(policy, rows, maxLen) : ResponseLogProbs.Layout.Padded(policy, rows, maxLen);
    }
}

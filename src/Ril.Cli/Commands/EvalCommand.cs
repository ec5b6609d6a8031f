using System.CommandLine;
using System.Globalization;
using Ril.Data;
using Ril.Evaluation;
using Ril.Hub;
using Ril.Models;
using Ril.Rewards;
using Ril.Training;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril eval --model DIR --dataset FILE`: accuracy under MAYE's three decoding settings (or others), judged by the math
/// verifier or an LLM judge; per-sample JSONL and a summary under --out.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"Model: {ModelLocation.ArgumentDescription}, holding config.json, weights and tokenizer.json", Required = true };
        var dataset = new Option<string>("--dataset") { Description = $"Dataset: {DatasetSource.ArgumentDescription}", Required = true };
        var keys = new DatasetKeyOptions();
        var settings = new Option<string>("--settings")
        {
            Description = "Comma-separated decoding settings: 'maye' (T=0.01 top-p 0.001 pass@1, T=0.6 pass@1, T=1.0 pass@8) and/or T:top_p:k triples",
            DefaultValueFactory = _ => "maye",
        };
        var output = new Option<string>("--out") { Description = "Folder for {split}/{setting}/step-000000.jsonl and summary.jsonl", DefaultValueFactory = _ => Path.Combine("runs", "eval") };
        var split = new Option<string?>("--split") { Description = "Name of the split in the output (default: the dataset file's name, or a Hub id's split)" };
        var limit = new Option<int>("--limit") { Description = "Evaluate only the first N questions (0: all)", DefaultValueFactory = _ => 0 };
        var maxTokens = new Option<int>("--max-new-tokens") { Description = "Most tokens per response (MAYE: 2048)", DefaultValueFactory = _ => 1024 };
        var batch = new Option<int>("--batch") { Description = "Questions sampled together", DefaultValueFactory = _ => 16 };
        var seed = new Option<ulong>("--seed") { Description = "Sampling seed", DefaultValueFactory = _ => 0UL };
        var textOnly = new Option<bool>("--text-only") { Description = "Ignore the dataset's images" };
        var judge = new Option<string?>("--judge") { Description = "Judge answers with an LLM at BASE_URL,MODEL (OpenAI-compatible) instead of the math verifier" };
        var judgeCache = new Option<string?>("--judge-cache") { Description = "JSONL cache of the judge's verdicts (default: in memory)" };
        var prior = new Option<string?>("--prior")
        {
            Description = "Training JSONL: also print two blind baselines fitted on it (its most common answer, and its most common answer to the " +
                          "same question text), so accuracy can be read against what a model that never sees the image scores",
        };
        var by = new Option<string?>("--by")
        {
            Description = "Also print accuracy per value of this row field (e.g. 'family' in the built-in suite, 'subject' or 'difficulty' elsewhere)",
        };
        var command = new Command("eval", "Evaluate a model on a dataset under MAYE's decoding settings; writes per-sample results and a summary.")
            { model, dataset, settings, output, split, limit, maxTokens, batch, seed, textOnly, judge, judgeCache, prior, by };
        keys.AddTo(command);
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var list = EvalSetting.ParseList(parse.GetValue(settings)!);
            var chat = ChatModel.Load(ModelArgument.Resolve(parse.GetValue(model)!), frozen: true);
            var file = parse.GetValue(dataset)!;
            var rows = DatasetSource.Load(file, keys.Keys(parse), parse.GetValue(textOnly) ? ImageMode.TextOnly : ImageMode.Require);
            if (parse.GetValue(limit) is > 0 and var n) rows = rows.Take(n).ToList();
            using var verdict = Verdict(parse.GetValue(judge), parse.GetValue(judgeCache));
            var evaluator = new Evaluator(chat, verdict.Function, new EvaluatorOptions
            {
                MaxNewTokens = parse.GetValue(maxTokens), QuestionsPerBatch = parse.GetValue(batch), Seed = parse.GetValue(seed),
            });
            var name = parse.GetValue(split) ?? DatasetSource.SplitName(file);
            var outDir = parse.GetValue(output)!;
            Console.WriteLine($"{rows.Count} questions from {file}, judged by {verdict.Function.Name}");
            AnswerPrior? blind = null;
            if (parse.GetValue(prior) is { } trainFile)
            {
                blind = AnswerPrior.Fit(DatasetSource.Load(trainFile, keys.Keys(parse), ImageMode.TextOnly));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{"blind: always " + blind.Overall,-22} accuracy {blind.OverallAccuracy(rows):F3}\n{"blind: question prior",-22} accuracy {blind.Accuracy(rows):F3}  (fitted on {trainFile}; exact answers)"));
            }
            foreach (var setting in list)
            {
                var result = evaluator.Evaluate(name, rows, setting);
                result.WriteTo(outDir);
                var s = result.Summary;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{s.Setting,-22} accuracy {s.Accuracy:F3} ({s.Solved}/{s.Questions})  mean length {s.MeanResponseTokens:F1}  {s.Seconds:F1} s  → {result.SamplesPath(outDir)}"));
                if (parse.GetValue(by) is { } field) PrintBreakdown(rows, result, field, blind);
            }
            Console.WriteLine($"summary: {Path.Combine(outDir, "summary.jsonl")}");
            if (verdict.Function is LlmJudge llmJudge && llmJudge.Statistics is { } stats && stats.ParseFailures + stats.EndpointFailures > 0)
            {
                // An unreachable or garbling judge scores 0: the accuracies above would be silently wrong.
                Console.WriteLine(stats.ToString());
                Console.Error.WriteLine($"error: the judge failed {stats.ParseFailures + stats.EndpointFailures} of {stats.Requests} verdicts " +
                                        $"({stats.EndpointFailures} unanswered, {stats.ParseFailures} unreadable), which count as wrong above");
                return JudgeFailedExitCode;
            }
            return 0;
        }));
        return command;
    }

    /// <summary>The exit code of an evaluation whose judge failed on some verdicts (its results are written, but not to be trusted).</summary>
    public const int JudgeFailedExitCode = 3;

    /// <summary>Accuracy per value of a row field (rows without it count under "(none)"), beside the blind question prior's when given.</summary>
    static void PrintBreakdown(IReadOnlyList<DatasetRow> rows, EvalResult result, string field, AnswerPrior? blind)
    {
        var rowOf = rows.ToDictionary(r => r.Id);
        foreach (var group in result.Questions.GroupBy(q => rowOf[q.Id].Extra[field]?.ToString() ?? "(none)").OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            int solved = group.Count(q => q.Solved), n = group.Count();
            var prior = blind is null ? "" : $"  question prior {blind.Accuracy(group.Select(q => rowOf[q.Id]).ToList()):F3}";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {field} {group.Key,-20} accuracy {solved / (double)n:F3} ({solved}/{n}){prior}"));
        }
    }

    internal sealed class VerdictSource(IRewardFunction function, IDisposable? owned) : IDisposable
    {
        public IRewardFunction Function { get; } = function;
        public void Dispose() => owned?.Dispose();
    }

    /// <summary>The answer verdict: the math verifier, or an LLM judge at BASE_URL,MODEL (shared with `ril train`).</summary>
    internal static VerdictSource Verdict(string? judge, string? cachePath, string apiKeyVariable = "OPENAI_API_KEY")
    {
        if (judge is null) return new VerdictSource(new AnswerReward(), null);
        var parts = judge.Split(',', 2);
        if (parts.Length != 2 || !Uri.TryCreate(parts[0], UriKind.Absolute, out var url))
            throw new ArgumentException($"--judge '{judge}': expected BASE_URL,MODEL, e.g. http://localhost:8000/v1,Qwen/Qwen2.5-7B-Instruct");
        var endpoint = new EndpointClient(new EndpointOptions { BaseUrl = url, Model = parts[1], Temperature = 0f, ApiKeyVariable = apiKeyVariable });
        var cache = cachePath is null ? JudgeCache.InMemory() : JudgeCache.Open(cachePath);
        return new VerdictSource(new LlmJudge(endpoint, cache), new Both(endpoint, cache));
    }

    sealed class Both(IDisposable a, IDisposable b) : IDisposable
    {
        public void Dispose() { a.Dispose(); b.Dispose(); }
    }
}

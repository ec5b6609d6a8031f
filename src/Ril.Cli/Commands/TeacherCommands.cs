using System.CommandLine;
using System.Globalization;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Data.Teachers;
using Ril.Rewards;

namespace Ril.Cli.Commands;

/// <summary>`ril teachers`: the scripted teachers of the built-in suite and their response cache.</summary>
public static class TeacherCommands
{
    public static Command Create()
    {
        var teachers = new Command("teachers", "Teachers: scripted expert solvers for the built-in suite, and teacher-response caches.");
        teachers.Add(Synth());
        teachers.Add(Show());
        teachers.Add(Collect());
        return teachers;
    }

    static Option<string> TeacherList() => new("--teachers")
    {
        Description = $"Comma-separated scripted teachers ({string.Join(", ", ScriptedTeacher.Names)})",
        DefaultValueFactory = _ => string.Join(",", ScriptedTeacher.Names),
    };

    static List<ScriptedTeacher> ParseTeachers(string list, double errorRate) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => ScriptedTeacher.Named(name, errorRate)).ToList();

    static Command Synth()
    {
        var data = new Option<string>("--data") { Description = "Folder written by `ril data synth`", Required = true };
        var output = new Option<string>("--out") { Description = "Teacher cache to write (JSONL: id, teacher, response, correct); replaced if it exists", Required = true };
        var split = new Option<string>("--split") { Description = "Which split to answer: train, val or test_ood", DefaultValueFactory = _ => "train" };
        var teachers = TeacherList();
        var perTeacher = new Option<int>("-n", "--responses") { Description = "Responses per question and teacher (RIL collects N per teacher)", DefaultValueFactory = _ => 4 };
        var errorRate = new Option<double>("--error-rate") { Description = "Share of responses given from a misperceived scene (wrong answers with consistent reasoning)", DefaultValueFactory = _ => 0.0 };
        var seed = new Option<int>("--seed") { Description = "Random seed; the same seed gives the same cache", DefaultValueFactory = _ => 1 };
        var command = new Command("synth",
            "Answer every question of a built-in suite split with scripted teachers and write a teacher cache for RIL. " +
            "Each teacher has its own recognisable style: enumerator (lists every object), grouper (groups by attribute), " +
            "terse (one line), verifier (re-checks before answering).")
            { data, output, split, teachers, perTeacher, errorRate, seed };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var splitName = parse.GetValue(split)!;
            if (!SuiteWriter.Splits.Any(s => s.Name == splitName)) throw new ArgumentException($"unknown split '{splitName}' (train, val or test_ood)");
            var rows = JsonlDataset.Load(Path.Combine(parse.GetValue(data)!, splitName + ".jsonl"), ImageMode.TextOnly);
            var chosen = ParseTeachers(parse.GetValue(teachers)!, parse.GetValue(errorRate));
            int n = parse.GetValue(perTeacher);
            var path = parse.GetValue(output)!;
            var (cache, correctShare) = ScriptedTeacher.WriteCache(rows, chosen, n, parse.GetValue(seed), path);
            Console.WriteLine($"wrote {cache.Count} responses ({rows.Count} questions × {chosen.Count} teachers × {n}) to {path}; " +
                              $"{(100.0 * correctShare).ToString("F1", CultureInfo.InvariantCulture)}% correct");
            return 0;
        }));
        return command;
    }

    static Command Show()
    {
        var data = new Option<string>("--data") { Description = "Folder written by `ril data synth`", Required = true };
        var id = new Option<string>("--id") { Description = "Question id (e.g. train_00003); the first row when omitted" };
        var split = new Option<string>("--split") { Description = "Split to read", DefaultValueFactory = _ => "train" };
        var teachers = TeacherList();
        var errorRate = new Option<double>("--error-rate") { Description = "Share of responses from a misperceived scene", DefaultValueFactory = _ => 0.0 };
        var command = new Command("show", "Print one question, its gold solution and each scripted teacher's response, to compare styles by eye.")
            { data, id, split, teachers, errorRate };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var rows = JsonlDataset.Read(Path.Combine(parse.GetValue(data)!, parse.GetValue(split)! + ".jsonl"), ImageMode.TextOnly);
            var wanted = parse.GetValue(id);
            var row = (wanted == null ? rows.FirstOrDefault() : rows.FirstOrDefault(r => r.Id == wanted))
                      ?? throw new KeyNotFoundException($"no row '{wanted}' in the {parse.GetValue(split)} split");
            Console.WriteLine($"[{row.Id}] {row.Question}   (answer: {row.Answer}, image: {row.ImageField})");
            Console.WriteLine($"--- gold\n{row.Solution}");
            foreach (var teacher in ParseTeachers(parse.GetValue(teachers)!, parse.GetValue(errorRate)))
                Console.WriteLine($"--- {teacher.Name}\n{teacher.Respond(row, new Random(StableSeed.Of(row.Id)))}");
            return 0;
        }));
        return command;
    }

    static Command Collect()
    {
        var dataset = new Option<string>("--dataset") { Description = "MAYE-format JSONL file of questions", Required = true };
        var teacherSpecs = new Option<string[]>("--teacher")
        {
            Description = "A teacher endpoint, NAME=URL,MODEL or NAME=URL,MODEL,API_KEY_VARIABLE (URL is the API root, e.g. http://127.0.0.1:8000/v1); repeat for several",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var perTeacher = new Option<int>("-n", "--responses") { Description = "Responses per question and teacher (RIL's paper: 16)", DefaultValueFactory = _ => 16 };
        var output = new Option<string>("--out") { Description = "Teacher cache (JSONL) to append to; what it already holds is not asked again", Required = true };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature", DefaultValueFactory = _ => 1.0f };
        var topP = new Option<float?>("--top-p") { Description = "Nucleus sampling threshold (endpoint default when omitted)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per response", DefaultValueFactory = _ => 2048 };
        var keyVariable = new Option<string>("--api-key-env") { Description = "Environment variable with the API key, for teachers that name none", DefaultValueFactory = _ => "OPENAI_API_KEY" };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight per teacher", DefaultValueFactory = _ => 4 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds one request may take", DefaultValueFactory = _ => 120 };
        var attempts = new Option<int>("--attempts") { Description = "Attempts per response (429, 5xx, timeouts and unreadable replies are retried)", DefaultValueFactory = _ => 6 };
        var backoff = new Option<double>("--backoff") { Description = "Backoff base in seconds (full jitter, doubling per retry; a server's Retry-After wins)", DefaultValueFactory = _ => 1 };
        var backoffMax = new Option<double>("--backoff-max") { Description = "Longest backoff in seconds", DefaultValueFactory = _ => 60 };
        var textOnly = new Option<bool>("--text-only") { Description = "Send no images (for datasets shipped without them)" };
        var limit = new Option<int?>("--limit") { Description = "Only the first K questions" };
        var instruction = new Option<string>("--instruction") { Description = "Instruction appended to each question", DefaultValueFactory = _ => HttpTeacherCollector.DefaultInstruction };
        var maxFailures = new Option<double>("--max-failures")
        {
            Description = "Share of requests (after all retries) that may fail before the run stops; what arrived stays in the cache",
            DefaultValueFactory = _ => HttpTeacherCollector.DefaultMaxFailureShare,
        };
        var command = new Command("collect",
            "Ask teacher models behind OpenAI-compatible endpoints for N responses to every question (images sent as base64 data URLs) " +
            "and append them to a teacher cache for RIL. Resumable: rerun the same command to fill what is missing. " +
            "Exit code 0 when the cache is complete, 2 when some responses are still missing after all retries, 1 when more than " +
            "--max-failures of the requests failed (the run stops early).")
            { dataset, teacherSpecs, perTeacher, output, temperature, topP, maxTokens, keyVariable, concurrency, timeout, attempts, backoff, backoffMax, textOnly, limit, instruction, maxFailures };
        command.SetAction((parse, cancellation) => Task.FromResult(ErrorReporting.Run(() =>
        {
            var defaults = new EndpointOptions
            {
                BaseUrl = new Uri("http://127.0.0.1/v1"),
                Model = "unset",
                ApiKeyVariable = parse.GetValue(keyVariable)!,
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                MaxTokens = parse.GetValue(maxTokens),
                MaxConcurrency = parse.GetValue(concurrency),
                RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                MaxAttempts = parse.GetValue(attempts),
                BackoffBase = TimeSpan.FromSeconds(parse.GetValue(backoff)),
                BackoffMax = TimeSpan.FromSeconds(parse.GetValue(backoffMax)),
            };
            defaults.Validate();
            var chosen = parse.GetValue(teacherSpecs)!.Select(spec => HttpTeacher.Parse(spec, defaults)).ToList();
            var rows = JsonlDataset.Load(parse.GetValue(dataset)!, parse.GetValue(textOnly) ? ImageMode.TextOnly : ImageMode.Require);
            if (parse.GetValue(limit) is { } k) rows = rows.Take(Math.Max(0, k)).ToList();
            var collector = new HttpTeacherCollector(chosen, parse.GetValue(instruction), parse.GetValue(maxFailures));
            var report = collector.CollectAsync(rows, parse.GetValue(perTeacher), parse.GetValue(output)!, Console.WriteLine, cancellation).GetAwaiter().GetResult();
            foreach (var (name, stats) in report.Endpoints) Console.WriteLine($"{name}: {stats}");
            foreach (var error in report.Errors) Console.Error.WriteLine($"failed: {error}");
            Console.WriteLine($"{report.Collected} responses added to {parse.GetValue(output)} ({report.AlreadyCached} were there); " +
                              (report.Missing == 0 ? "complete" : $"{report.Missing} still missing: rerun the same command to ask for them"));
            return report.Missing == 0 ? 0 : 2;
        })));
        return command;
    }
}

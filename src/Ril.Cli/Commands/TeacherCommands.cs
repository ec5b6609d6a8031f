using System.CommandLine;
using System.Globalization;
using Ril.Data;
using Ril.Data.Synth;
using Ril.Data.Teachers;

namespace Ril.Cli.Commands;

/// <summary>`ril teachers`: the scripted teachers of the built-in suite and their response cache.</summary>
public static class TeacherCommands
{
    public static Command Create()
    {
        var teachers = new Command("teachers", "Teachers: scripted expert solvers for the built-in suite, and teacher-response caches.");
        teachers.Add(Synth());
        teachers.Add(Show());
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
            if (n < 1) throw new ArgumentException("-n must be at least 1");
            var path = parse.GetValue(output)!;
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
            var temporary = path + ".tmp";
            File.Delete(temporary);
            var cache = new TeacherCache();
            int correct = 0;
            var responses = rows.SelectMany(row => chosen.SelectMany(teacher => Enumerable.Range(0, n).Select(i =>
            {
                var random = new Random(StableSeed.Mix(parse.GetValue(seed), StableSeed.Of(teacher.Name), StableSeed.Of(row.Id), i));
                var text = teacher.Respond(row, random);
                bool right = LastBoxed(text) == row.Answer;
                if (right) correct++;
                return new TeacherResponse(row.Id, teacher.Name, text, new() { ["correct"] = right });
            })));
            cache.Append(temporary, responses);
            File.Move(temporary, path, overwrite: true);
            Console.WriteLine($"wrote {cache.Count} responses ({rows.Count} questions × {chosen.Count} teachers × {n}) to {path}; " +
                              $"{(100.0 * correct / Math.Max(1, cache.Count)).ToString("F1", CultureInfo.InvariantCulture)}% correct");
            return 0;
        }));
        return command;
    }

    /// <summary>The content of the last \boxed{…} (scripted teachers never nest braces inside it).</summary>
    static string? LastBoxed(string text)
    {
        int start = text.LastIndexOf("\\boxed{", StringComparison.Ordinal);
        if (start < 0) return null;
        int end = text.IndexOf('}', start);
        return end < 0 ? null : text[(start + 7)..end];
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
}

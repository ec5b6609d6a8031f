using System.Text;
using Ril.Data.Synth;

namespace Ril.Data.Teachers;

/// <summary>The writing styles of the scripted teachers; each is recognisable at a glance (and to a discriminator).</summary>
public enum TeacherStyle
{
    /// <summary>Numbers every object and marks each one as needed or not, then computes.</summary>
    Enumerator,
    /// <summary>Sorts what it sees into groups by the attribute that matters, then computes.</summary>
    Grouper,
    /// <summary>One sentence and the answer.</summary>
    Terse,
    /// <summary>Reads, computes, then re-checks out loud ("Wait, let me check again") before answering.</summary>
    Verifier,
}

/// <summary>
/// An expert solver for the built-in suite that stands in for a large teacher VLM: it reads the row's
/// scene description (not the image), solves the question exactly, and writes the solution in its own
/// style. With an error rate, that share of its responses come from a misperceived scene (an object
/// missed, a colour or shape mistaken, a number misread), so wrong answers arrive with reasoning that
/// is consistent with them, as a real teacher's do. Deterministic given the Random passed in.
/// </summary>
public sealed class ScriptedTeacher
{
    public TeacherStyle Style { get; }
    public double ErrorRate { get; }
    public string Name => Style.ToString().ToLowerInvariant();

    public ScriptedTeacher(TeacherStyle style, double errorRate = 0)
    {
        if (errorRate is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(errorRate), "error rate must be within 0–1");
        Style = style; ErrorRate = errorRate;
    }

    public static IReadOnlyList<string> Names => Enum.GetValues<TeacherStyle>().Select(s => s.ToString().ToLowerInvariant()).ToList();

    public static ScriptedTeacher Named(string name, double errorRate = 0) =>
        Enum.TryParse<TeacherStyle>(name, ignoreCase: true, out var style) && !int.TryParse(name, out _)
            ? new ScriptedTeacher(style, errorRate)
            : throw new ArgumentException($"unknown teacher '{name}' (scripted teachers: {string.Join(", ", Names)})");

    /// <summary>
    /// The teacher cache of the built-in suite (`ril teachers synth`): <paramref name="perTeacher"/> responses of each
    /// teacher to each row, each drawn from a seed of (seed, teacher, row id, index) so the same seed gives the same cache;
    /// each line records whether its last \boxed{} answer is right. Written to PATH.tmp, then renamed. Returns the cache
    /// and the share of right answers.
    /// </summary>
    public static (TeacherCache Cache, double CorrectShare) WriteCache(IReadOnlyList<DatasetRow> rows, IReadOnlyList<ScriptedTeacher> teachers,
        int perTeacher, int seed, string path)
    {
        if (perTeacher < 1) throw new ArgumentException("-n must be at least 1");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var cache = new TeacherCache();
        int correct = 0;
        var responses = rows.SelectMany(row => teachers.SelectMany(teacher => Enumerable.Range(0, perTeacher).Select(i =>
        {
            var text = teacher.Respond(row, new Random(StableSeed.Mix(seed, StableSeed.Of(teacher.Name), StableSeed.Of(row.Id), i)));
            bool right = LastBoxed(text) == row.Answer;
            if (right) correct++;
            return new TeacherResponse(row.Id, teacher.Name, text, new() { ["correct"] = right });
        })));
        cache.Append(temporary, responses);
        File.Move(temporary, path, overwrite: true);
        return (cache, correct / (double)Math.Max(1, cache.Count));
    }

    /// <summary>The content of the last \boxed{…} (scripted teachers never nest braces inside it).</summary>
    static string? LastBoxed(string text)
    {
        int start = text.LastIndexOf("\\boxed{", StringComparison.Ordinal);
        if (start < 0) return null;
        int end = text.IndexOf('}', start);
        return end < 0 ? null : text[(start + 7)..end];
    }

    /// <summary>Answers a row of the built-in suite; the row must carry its "scene" and "params" fields.</summary>
    public string Respond(DatasetRow row, Random random)
    {
        if (row.Extra["scene"] is not System.Text.Json.Nodes.JsonObject sceneJson || row.Extra["params"] is not System.Text.Json.Nodes.JsonObject paramsJson)
            throw new DataFormatException(row.SourceFile, row.LineNumber, "scene",
                "scripted teachers need the scene description and params of Ril's built-in suite (`ril data synth`)");
        return Respond(Scene.FromJson(sceneJson), QuestionSpec.FromJson(paramsJson), random);
    }

    public string Respond(Scene scene, QuestionSpec spec, Random random)
    {
        var family = QuestionFamily.Named(spec.Family);
        var truth = family.Solve(scene, spec) ?? throw new ArgumentException($"the '{spec.Family}' question has no answer in this scene");
        var seen = truth;
        if (ErrorRate > 0 && random.NextDouble() < ErrorRate)
            seen = Misperception.WrongReasoning(scene, spec, family, truth, random) ?? truth;
        return Write(seen, random);
    }

    string Write(Reasoning r, Random random) => Style switch
    {
        TeacherStyle.Enumerator => Enumerate(r, random),
        TeacherStyle.Grouper => Group(r, random),
        TeacherStyle.Terse => Terse(r, random),
        _ => Verify(r, random),
    };

    static string OneOf(Random random, params string[] options) => options[random.Next(options.Length)];

    static string Enumerate(Reasoning r, Random random)
    {
        var text = new StringBuilder();
        text.AppendLine(OneOf(random, "Let me go through the picture item by item.", "I will list everything in the image, one at a time."));
        for (int i = 0; i < r.Observations.Count; i++)
            text.AppendLine($"{i + 1}. {r.Observations[i].Text} -> {(r.Observations[i].Relevant ? "needed" : "skip")}");
        text.AppendLine($"Needed: {r.Relevant.Count()} of {r.Observations.Count} items.");
        foreach (var step in r.Steps) text.AppendLine(step);
        text.Append($"Final answer: \\boxed{{{r.Answer}}}");
        return text.ToString();
    }

    static string Group(Reasoning r, Random random)
    {
        var text = new StringBuilder();
        text.AppendLine(OneOf(random, $"Sorting the picture by {r.GroupBy}:", $"Grouped by {r.GroupBy}, the picture has:"));
        foreach (var group in r.Observations.GroupBy(o => o.Group))
            text.AppendLine($"- {group.Key} ({group.Count()}): {string.Join(", ", group.Select(o => o.Detail))}");
        text.AppendLine($"The question is about {r.Find}.");
        foreach (var step in r.Steps) text.AppendLine(step);
        text.Append(OneOf(random, $"So the answer is \\boxed{{{r.Answer}}}.", $"Hence \\boxed{{{r.Answer}}}."));
        return text.ToString();
    }

    static string Terse(Reasoning r, Random random) =>
        $"{r.Steps[^1]} " + OneOf(random, $"\\boxed{{{r.Answer}}}", $"Answer: \\boxed{{{r.Answer}}}");

    static string Verify(Reasoning r, Random random)
    {
        var relevant = r.Relevant.Select(o => o.Text).ToList();
        string listed = relevant.Count == 0 ? "nothing matches" : string.Join(", ", relevant);
        var text = new StringBuilder();
        text.AppendLine($"{OneOf(random, "First look", "Initial reading")} at {r.Find}: {listed}.");
        text.AppendLine(string.Join(" ", r.Steps));
        text.AppendLine($"Wait, let me check again. Going over all {r.Observations.Count} items once more, {relevant.Count} of them matter: {listed}.");
        text.AppendLine(OneOf(random, "That confirms it.", "The result holds."));
        text.Append($"The answer is \\boxed{{{r.Answer}}}.");
        return text.ToString();
    }
}

using System.Text.Json.Nodes;

namespace Ril.Data.Synth;

/// <summary>The parameters of one question; which fields are set depends on the family.</summary>
public sealed record QuestionSpec(string Family)
{
    public Colour? Colour { get; init; }
    public Shape? Shape { get; init; }
    public Size? Size { get; init; }
    public Colour? OtherColour { get; init; }
    public Shape? OtherShape { get; init; }
    /// <summary>"left" or "right".</summary>
    public string? Direction { get; init; }
    public string? Label { get; init; }
    public string? OtherLabel { get; init; }
    public int? Amount { get; init; }

    public JsonObject ToJson()
    {
        var json = new JsonObject { ["family"] = Family };
        if (Colour is { } c) json["colour"] = Words.Of(c);
        if (Shape is { } s) json["shape"] = Words.Of(s);
        if (Size is { } z) json["size"] = Words.Of(z);
        if (OtherColour is { } c2) json["other_colour"] = Words.Of(c2);
        if (OtherShape is { } s2) json["other_shape"] = Words.Of(s2);
        if (Direction != null) json["direction"] = Direction;
        if (Label != null) json["label"] = Label;
        if (OtherLabel != null) json["other_label"] = OtherLabel;
        if (Amount is { } a) json["amount"] = a;
        return json;
    }

    public static QuestionSpec FromJson(JsonObject json)
    {
        string? Text(string key) => json[key]?.GetValue<string>();
        return new QuestionSpec(Text("family")!)
        {
            Colour = Text("colour") is { } c ? Words.ParseColour(c) : null,
            Shape = Text("shape") is { } s ? Words.ParseShape(s) : null,
            Size = Text("size") is { } z ? Words.ParseSize(z) : null,
            OtherColour = Text("other_colour") is { } c2 ? Words.ParseColour(c2) : null,
            OtherShape = Text("other_shape") is { } s2 ? Words.ParseShape(s2) : null,
            Direction = Text("direction"),
            Label = Text("label"),
            OtherLabel = Text("other_label"),
            Amount = json["amount"]?.GetValue<int>(),
        };
    }
}

/// <summary>One thing in the picture as a solver sees it: its description, its value of the attribute the
/// question groups by, the description without that attribute, and whether the question is about it.</summary>
public sealed record Observation(string Text, string Group, string Detail, bool Relevant);

/// <summary>
/// A worked solution in structured form. The gold solution and every scripted teacher write their text
/// from this, so they agree on the facts and differ only in style.
/// </summary>
/// <param name="Find">what to look for, as a noun phrase ("the red shapes")</param>
/// <param name="GroupBy">the attribute that organises the observations ("colour", "shape", "position", …)</param>
/// <param name="Steps">the computation, one short sentence each, the last one giving the answer</param>
public sealed record Reasoning(string Answer, string Find, string GroupBy, IReadOnlyList<Observation> Observations, IReadOnlyList<string> Steps)
{
    public IEnumerable<Observation> Relevant => Observations.Where(o => o.Relevant);
}

/// <summary>
/// A kind of question: which scenes it needs, how to pick its parameters, its wording, and how to solve
/// it from the scene. Families are in the spirit of CLEVR-Math (counting, adding, removing), CLEVR
/// (comparison, spatial relations) and chart/figure QA (reading numbers and bars).
/// </summary>
public abstract class QuestionFamily
{
    public abstract string Name { get; }
    public abstract SceneKind SceneKind { get; }

    /// <summary>Parameters suited to <paramref name="scene"/>, or null when this scene cannot carry the question (draw another).</summary>
    public abstract QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile);

    public abstract string Text(QuestionSpec spec);

    /// <summary>The solution, or null when the question has no answer in this scene (a teacher that misperceived may get there).</summary>
    public abstract Reasoning? Solve(Scene scene, QuestionSpec spec);

    public static readonly IReadOnlyList<QuestionFamily> All =
    [
        new CountFamily(CountBy.Colour), new CountFamily(CountBy.Shape), new CountFamily(CountBy.ColourAndShape), new CountFamily(CountBy.Size),
        new RemoveFamily(), new AddFamily(), new CompareFamily(),
        new SpatialFamily(askColour: true), new SpatialFamily(askColour: false),
        new DigitSumFamily(), new DigitDifferenceFamily(),
        new BarValueFamily(), new BarTallestFamily(), new BarDifferenceFamily(),
    ];

    public static QuestionFamily Named(string name) =>
        All.FirstOrDefault(f => f.Name == name) ?? throw new ArgumentException($"unknown question family '{name}' (known: {string.Join(", ", All.Select(f => f.Name))})");

    protected static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    /// <summary>Mostly an attribute present in the scene (so answers are rarely zero), sometimes any.</summary>
    protected static T PresentOrAny<T>(Random random, IEnumerable<T> present) where T : struct, Enum =>
        random.NextDouble() < 0.85 && present.Any() ? Pick(random, present.Distinct().ToList()) : Pick(random, Enum.GetValues<T>());
}

public enum CountBy { Colour, Shape, ColourAndShape, Size }

/// <summary>A set of objects named by colour, shape, colour and shape, or size: the subject of counting questions.</summary>
internal static class Target
{
    public static bool Matches(SceneObject o, QuestionSpec spec) =>
        (spec.Colour == null || o.Colour == spec.Colour) && (spec.Shape == null || o.Shape == spec.Shape) && (spec.Size == null || o.Size == spec.Size);

    public static string Singular(QuestionSpec spec) => Describe(spec, plural: false);
    public static string Plural(QuestionSpec spec) => Describe(spec, plural: true);

    static string Describe(QuestionSpec spec, bool plural)
    {
        var words = new List<string>();
        if (spec.Size is { } z) words.Add(Words.Of(z));
        if (spec.Colour is { } c) words.Add(Words.Of(c));
        words.Add(spec.Shape is { } s ? (plural ? Words.Plural(s) : Words.Of(s)) : plural ? "shapes" : "shape");
        return string.Join(' ', words);
    }

    public static string Counted(int n, QuestionSpec spec) => Words.Count(n, Singular(spec), Plural(spec));

    /// <summary>Observations of every object in reading order, grouped by <paramref name="groupBy"/>.</summary>
    public static List<Observation> Observe(Scene scene, Func<SceneObject, bool> relevant, string groupBy) =>
        scene.InReadingOrder().Select(o => groupBy switch
        {
            "colour" => new Observation(o.Describe(), Words.Of(o.Colour), $"{Words.Of(o.Size)} {Words.Of(o.Shape)}", relevant(o)),
            "shape" => new Observation(o.Describe(), Words.Of(o.Shape), $"{Words.Of(o.Size)} {Words.Of(o.Colour)}", relevant(o)),
            _ => new Observation(o.Describe(), Words.Of(o.Size), $"{Words.Of(o.Colour)} {Words.Of(o.Shape)}", relevant(o)),
        }).ToList();

    /// <summary>A colour–shape pair to ask about: in the out-of-distribution split often a held-out one;
    /// elsewhere never one, not even in the text.</summary>
    public static (Colour, Shape) ChoosePair(Scene scene, Random random, SplitProfile profile)
    {
        var present = scene.Objects.Select(o => (o.Colour, o.Shape)).Distinct().ToList();
        if (profile.HeldOutPairs)
        {
            var heldOut = present.Where(p => SplitProfile.IsHeldOut(p.Colour, p.Shape)).ToList();
            if (heldOut.Count > 0 && random.Next(2) == 0) return heldOut[random.Next(heldOut.Count)];
        }
        while (true)
        {
            var pair = random.NextDouble() < 0.85 ? present[random.Next(present.Count)]
                : (Enum.GetValues<Colour>()[random.Next(5)], Enum.GetValues<Shape>()[random.Next(4)]);
            if (profile.HeldOutPairs || !SplitProfile.IsHeldOut(pair.Item1, pair.Item2)) return pair;
        }
    }
}

public sealed class CountFamily(CountBy by) : QuestionFamily
{
    public override string Name => by switch
    {
        CountBy.Colour => "count_colour", CountBy.Shape => "count_shape", CountBy.ColourAndShape => "count_colour_shape", _ => "count_size",
    };
    public override SceneKind SceneKind => SceneKind.Shapes;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile)
    {
        var spec = new QuestionSpec(Name);
        switch (by)
        {
            case CountBy.Colour: return spec with { Colour = PresentOrAny(random, scene.Objects.Select(o => o.Colour)) };
            case CountBy.Shape: return spec with { Shape = PresentOrAny(random, scene.Objects.Select(o => o.Shape)) };
            case CountBy.Size: return spec with { Size = PresentOrAny(random, scene.Objects.Select(o => o.Size)) };
            default:
                var (c, s) = Target.ChoosePair(scene, random, profile);
                return spec with { Colour = c, Shape = s };
        }
    }

    public override string Text(QuestionSpec spec) => $"How many {Target.Plural(spec)} are there?";

    public override Reasoning Solve(Scene scene, QuestionSpec spec)
    {
        int k = scene.Objects.Count(o => Target.Matches(o, spec));
        string groupBy = by switch { CountBy.Shape => "shape", CountBy.Size => "size", _ => "colour" };
        return new Reasoning(k.ToString(), "the " + Target.Plural(spec), groupBy,
            Target.Observe(scene, o => Target.Matches(o, spec), groupBy),
            [$"There {Words.IsAre(k)} {Target.Counted(k, spec)}."]);
    }
}

/// <summary>CLEVR-Math subtraction: "Remove all blue squares. How many objects are left?"</summary>
public sealed class RemoveFamily : QuestionFamily
{
    public override string Name => "remove_count";
    public override SceneKind SceneKind => SceneKind.Shapes;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile)
    {
        var spec = new QuestionSpec(Name);
        return random.Next(3) switch
        {
            0 => spec with { Colour = PresentOrAny(random, scene.Objects.Select(o => o.Colour)) },
            1 => spec with { Shape = PresentOrAny(random, scene.Objects.Select(o => o.Shape)) },
            _ => WithPair(spec, Target.ChoosePair(scene, random, profile)),
        };
    }

    static QuestionSpec WithPair(QuestionSpec spec, (Colour Colour, Shape Shape) pair) => spec with { Colour = pair.Colour, Shape = pair.Shape };

    public override string Text(QuestionSpec spec) => $"Remove all {Target.Plural(spec)}. How many objects are left?";

    public override Reasoning Solve(Scene scene, QuestionSpec spec)
    {
        int n = scene.Objects.Count, k = scene.Objects.Count(o => Target.Matches(o, spec));
        return new Reasoning((n - k).ToString(), "the " + Target.Plural(spec) + " to remove", spec.Shape != null && spec.Colour == null ? "shape" : "colour",
            Target.Observe(scene, o => Target.Matches(o, spec), spec.Shape != null && spec.Colour == null ? "shape" : "colour"),
            [$"There {Words.IsAre(n)} {Words.Count(n, "object", "objects")} in total.",
             $"Removing {Target.Counted(k, spec)} leaves {n} - {k} = {n - k}."]);
    }
}

/// <summary>CLEVR-Math addition: "Add 2 red circles. How many red circles are there?"</summary>
public sealed class AddFamily : QuestionFamily
{
    public override string Name => "add_count";
    public override SceneKind SceneKind => SceneKind.Shapes;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile)
    {
        var spec = new QuestionSpec(Name) { Amount = random.Next(1, 4) };
        if (random.Next(2) == 0) return spec with { Shape = PresentOrAny(random, scene.Objects.Select(o => o.Shape)) };
        var (c, s) = Target.ChoosePair(scene, random, profile);
        return spec with { Colour = c, Shape = s };
    }

    public override string Text(QuestionSpec spec) =>
        $"Add {Target.Counted(spec.Amount!.Value, spec)}. How many {Target.Plural(spec)} are there?";

    public override Reasoning Solve(Scene scene, QuestionSpec spec)
    {
        int k = scene.Objects.Count(o => Target.Matches(o, spec)), a = spec.Amount!.Value;
        string groupBy = spec.Colour != null ? "colour" : "shape";
        return new Reasoning((k + a).ToString(), "the " + Target.Plural(spec), groupBy,
            Target.Observe(scene, o => Target.Matches(o, spec), groupBy),
            [$"There {Words.IsAre(k)} {Target.Counted(k, spec)} now.", $"Adding {a} gives {k} + {a} = {k + a}."]);
    }
}

/// <summary>"Are there more circles than triangles?" (or more red shapes than blue shapes).</summary>
public sealed class CompareFamily : QuestionFamily
{
    public override string Name => "compare_count";
    public override SceneKind SceneKind => SceneKind.Shapes;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile)
    {
        var spec = new QuestionSpec(Name);
        if (random.Next(2) == 0)
        {
            var first = PresentOrAny(random, scene.Objects.Select(o => o.Shape));
            var second = PresentOrAny(random, scene.Objects.Select(o => o.Shape).Where(s => s != first));
            return first == second ? null : spec with { Shape = first, OtherShape = second };
        }
        var a = PresentOrAny(random, scene.Objects.Select(o => o.Colour));
        var b = PresentOrAny(random, scene.Objects.Select(o => o.Colour).Where(c => c != a));
        return a == b ? null : spec with { Colour = a, OtherColour = b };
    }

    static (QuestionSpec First, QuestionSpec Second) Sides(QuestionSpec spec) =>
        spec.Shape != null
            ? (new QuestionSpec("") { Shape = spec.Shape }, new QuestionSpec("") { Shape = spec.OtherShape })
            : (new QuestionSpec("") { Colour = spec.Colour }, new QuestionSpec("") { Colour = spec.OtherColour });

    public override string Text(QuestionSpec spec)
    {
        var (first, second) = Sides(spec);
        return $"Are there more {Target.Plural(first)} than {Target.Plural(second)}?";
    }

    public override Reasoning Solve(Scene scene, QuestionSpec spec)
    {
        var (first, second) = Sides(spec);
        int a = scene.Objects.Count(o => Target.Matches(o, first)), b = scene.Objects.Count(o => Target.Matches(o, second));
        string groupBy = spec.Shape != null ? "shape" : "colour";
        string verdict = a > b ? $"{a} is more than {b}, so yes." : $"{a} is not more than {b}, so no.";
        return new Reasoning(a > b ? "yes" : "no", $"the {Target.Plural(first)} and the {Target.Plural(second)}", groupBy,
            Target.Observe(scene, o => Target.Matches(o, first) || Target.Matches(o, second), groupBy),
            [$"There {Words.IsAre(a)} {Target.Counted(a, first)} and {Target.Counted(b, second)}.", verdict]);
    }
}

/// <summary>
/// Left/right in a row of shapes: "What colour is the shape left of the star?" or "What shape is right
/// of the red shape?". The reference is unique in the row and "left of" means the nearest neighbour.
/// </summary>
public sealed class SpatialFamily(bool askColour) : QuestionFamily
{
    public override string Name => askColour ? "spatial_colour" : "spatial_shape";
    public override SceneKind SceneKind => SceneKind.Row;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile)
    {
        var row = scene.InReadingOrder();
        var direction = random.Next(2) == 0 ? "left" : "right";
        var candidates = Enumerable.Range(0, row.Count).Where(i => direction == "left" ? i > 0 : i < row.Count - 1)
            .Where(i => askColour ? row.Count(o => o.Shape == row[i].Shape) == 1 : row.Count(o => o.Colour == row[i].Colour) == 1)
            .ToList();
        if (candidates.Count == 0) return null;
        var reference = row[Pick(random, candidates)];
        return askColour ? new QuestionSpec(Name) { Shape = reference.Shape, Direction = direction }
                         : new QuestionSpec(Name) { Colour = reference.Colour, Direction = direction };
    }

    string ReferenceName(QuestionSpec spec) => askColour ? $"the {Words.Of(spec.Shape!.Value)}" : $"the {Words.Of(spec.Colour!.Value)} shape";

    public override string Text(QuestionSpec spec) =>
        askColour ? $"What colour is the shape {spec.Direction} of {ReferenceName(spec)}?"
                  : $"What shape is {spec.Direction} of {ReferenceName(spec)}?";

    public override Reasoning? Solve(Scene scene, QuestionSpec spec)
    {
        var row = scene.InReadingOrder();
        var matches = Enumerable.Range(0, row.Count)
            .Where(i => askColour ? row[i].Shape == spec.Shape : row[i].Colour == spec.Colour).ToList();
        if (matches.Count != 1) return null;
        int r = matches[0], t = spec.Direction == "left" ? r - 1 : r + 1;
        if (t < 0 || t >= row.Count) return null;
        var target = row[t];
        string Describe(SceneObject o) => $"{Words.Of(o.Colour)} {Words.Of(o.Shape)}";
        var observations = row.Select((o, i) => new Observation(Describe(o), $"position {i + 1}", Describe(o), i == r || i == t)).ToList();
        string answer = askColour ? Words.Of(target.Colour) : Words.Of(target.Shape);
        return new Reasoning(answer, $"{ReferenceName(spec)} and the shape to its {spec.Direction}", "position", observations,
            [$"{Capitalise(ReferenceName(spec))} is at position {r + 1} from the left.",
             $"The shape to its {spec.Direction} is the {Describe(target)} at position {t + 1}.",
             askColour ? $"Its colour is {answer}." : $"It is a {answer}."]);
    }

    static string Capitalise(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}

public sealed class DigitSumFamily : QuestionFamily
{
    public override string Name => "digit_sum";
    public override SceneKind SceneKind => SceneKind.Digits;
    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile) => new(Name);
    public override string Text(QuestionSpec spec) => "What is the sum of the numbers shown?";

    public override Reasoning Solve(Scene scene, QuestionSpec spec)
    {
        var values = scene.Numbers.OrderBy(n => n.X).Select(n => n.Value).ToList();
        int sum = values.Sum();
        return new Reasoning(sum.ToString(), "the numbers", "colour",
            scene.Numbers.OrderBy(n => n.X).Select(n => new Observation($"the number {n.Value}", Words.Of(n.Colour), n.Value.ToString(), true)).ToList(),
            [$"{string.Join(" + ", values)} = {sum}."]);
    }
}

public sealed class DigitDifferenceFamily : QuestionFamily
{
    public override string Name => "digit_difference";
    public override SceneKind SceneKind => SceneKind.Digits;
    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile) => new(Name);
    public override string Text(QuestionSpec spec) => "What is the largest number minus the smallest number?";

    public override Reasoning Solve(Scene scene, QuestionSpec spec)
    {
        var values = scene.Numbers.OrderBy(n => n.X).Select(n => n.Value).ToList();
        int max = values.Max(), min = values.Min();
        return new Reasoning((max - min).ToString(), "the largest and the smallest number", "colour",
            scene.Numbers.OrderBy(n => n.X).Select(n => new Observation($"the number {n.Value}", Words.Of(n.Colour), n.Value.ToString(), n.Value == max || n.Value == min)).ToList(),
            [$"The largest is {max} and the smallest is {min}.", $"{max} - {min} = {max - min}."]);
    }
}

internal static class Chart
{
    public static List<Observation> Observe(Scene scene, Func<SceneBar, bool> relevant) =>
        scene.Bars.Select(b => new Observation($"bar {b.Label} at {b.Value}", $"bar {b.Label}", $"height {b.Value}", relevant(b))).ToList();

    public static SceneBar? Bar(Scene scene, string? label) => scene.Bars.FirstOrDefault(b => b.Label == label);
}

public sealed class BarValueFamily : QuestionFamily
{
    public override string Name => "bar_value";
    public override SceneKind SceneKind => SceneKind.Bars;
    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile) => new(Name) { Label = Pick(random, scene.Bars).Label };
    public override string Text(QuestionSpec spec) => $"What is the value of bar {spec.Label}?";

    public override Reasoning? Solve(Scene scene, QuestionSpec spec)
    {
        if (Chart.Bar(scene, spec.Label) is not { } bar) return null;
        return new Reasoning(bar.Value.ToString(), $"bar {bar.Label}", "bar", Chart.Observe(scene, b => b == bar),
            [$"Bar {bar.Label} reaches grid line {bar.Value}.", $"Its value is {bar.Value}."]);
    }
}

public sealed class BarTallestFamily : QuestionFamily
{
    public override string Name => "bar_tallest";
    public override SceneKind SceneKind => SceneKind.Bars;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile) =>
        scene.Bars.Count(b => b.Value == scene.Bars.Max(x => x.Value)) == 1 ? new(Name) : null;

    public override string Text(QuestionSpec spec) => "Which bar is the tallest?";

    public override Reasoning? Solve(Scene scene, QuestionSpec spec)
    {
        int max = scene.Bars.Max(b => b.Value);
        var tallest = scene.Bars.Where(b => b.Value == max).ToList();
        if (tallest.Count != 1) return null;
        return new Reasoning(tallest[0].Label, "the tallest bar", "bar", Chart.Observe(scene, b => b.Value == max),
            [$"The values are {string.Join(", ", scene.Bars.Select(b => $"{b.Label} = {b.Value}"))}.",
             $"The tallest is bar {tallest[0].Label} with {max}."]);
    }
}

public sealed class BarDifferenceFamily : QuestionFamily
{
    public override string Name => "bar_difference";
    public override SceneKind SceneKind => SceneKind.Bars;

    public override QuestionSpec? Choose(Scene scene, Random random, SplitProfile profile)
    {
        var pairs = (from a in scene.Bars from b in scene.Bars where a.Value > b.Value select (a, b)).ToList();
        if (pairs.Count == 0) return null;
        var (taller, shorter) = Pick(random, pairs);
        return new QuestionSpec(Name) { Label = taller.Label, OtherLabel = shorter.Label };
    }

    public override string Text(QuestionSpec spec) => $"How much taller is bar {spec.Label} than bar {spec.OtherLabel}?";

    public override Reasoning? Solve(Scene scene, QuestionSpec spec)
    {
        if (Chart.Bar(scene, spec.Label) is not { } a || Chart.Bar(scene, spec.OtherLabel) is not { } b) return null;
        return new Reasoning((a.Value - b.Value).ToString(), $"bars {a.Label} and {b.Label}", "bar", Chart.Observe(scene, x => x == a || x == b),
            [$"Bar {a.Label} is at {a.Value} and bar {b.Label} is at {b.Value}.", $"{a.Value} - {b.Value} = {a.Value - b.Value}."]);
    }
}

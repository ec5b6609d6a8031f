namespace Ril.Data.Synth;

/// <summary>
/// What scenes and questions a split may contain. Training and validation share one profile; the
/// out-of-distribution test adds colour–shape pairs that training never shows and larger counts, so
/// the gap between the two measures generalisation (MAYE's RL-vs-SFT comparison).
/// </summary>
public sealed record SplitProfile(
    string Name,
    int MinObjects, int MaxObjects,
    int MinRow, int MaxRow,
    int Numbers,
    int Bars, int AxisMax,
    bool HeldOutPairs)
{
    /// <summary>Colour–shape pairs that never appear in train or val scenes (CLEVR-CoGenT style).</summary>
    public static readonly IReadOnlyList<(Colour Colour, Shape Shape)> HeldOut =
        [(Colour.Red, Shape.Star), (Colour.Blue, Shape.Triangle), (Colour.Green, Shape.Circle), (Colour.Yellow, Shape.Square)];

    public static bool IsHeldOut(Colour c, Shape s) => HeldOut.Contains((c, s));

    public static readonly SplitProfile Train = new("train", 2, 6, 3, 4, 2, 3, 6, false);
    public static readonly SplitProfile Val = Train with { Name = "val" };
    public static readonly SplitProfile TestOod = new("test_ood", 7, 9, 5, 5, 3, 4, 8, true);
}

/// <summary>Random scenes for a split profile. Positions are rounded to 4 decimals so a scene survives its JSON round trip exactly.</summary>
public static class SceneGenerator
{
    const int GridCells = 3;
    const double LargeRadius = 0.36 / GridCells, SmallRadius = 0.22 / GridCells, Jitter = 0.06 / GridCells;

    static double Round(double v) => Math.Round(v, 4);

    static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    /// <summary>A few colours and shapes per scene, so counts above one are common.</summary>
    static (List<Colour> Colours, List<Shape> Shapes) Vocabulary(Random random)
    {
        var colours = Enum.GetValues<Colour>().OrderBy(_ => random.Next()).Take(2 + random.Next(3)).ToList();
        var shapes = Enum.GetValues<Shape>().OrderBy(_ => random.Next()).Take(2 + random.Next(2)).ToList();
        return (colours, shapes);
    }

    static (Colour, Shape) PickPair(Random random, List<Colour> colours, List<Shape> shapes, SplitProfile profile)
    {
        for (int attempt = 0; ; attempt++)
        {
            var pair = (Pick(random, colours), Pick(random, shapes));
            if (profile.HeldOutPairs || !SplitProfile.IsHeldOut(pair.Item1, pair.Item2)) return pair;
            if (attempt > 20) // this vocabulary is all held-out pairs: widen it
            {
                colours = Enum.GetValues<Colour>().ToList();
                shapes = Enum.GetValues<Shape>().ToList();
            }
        }
    }

    /// <summary>Shapes in distinct cells of a 3×3 grid, with a little jitter.</summary>
    public static Scene Shapes(Random random, SplitProfile profile, int imageSize)
    {
        int count = random.Next(profile.MinObjects, profile.MaxObjects + 1);
        var cells = Enumerable.Range(0, GridCells * GridCells).OrderBy(_ => random.Next()).Take(count).ToList();
        var (colours, shapes) = Vocabulary(random);
        var objects = new List<SceneObject>();
        foreach (var cell in cells)
        {
            var (colour, shape) = PickPair(random, colours, shapes, profile);
            var size = random.Next(2) == 0 ? Size.Small : Size.Large;
            double x = (cell % GridCells + 0.5) / GridCells + (random.NextDouble() * 2 - 1) * Jitter;
            double y = (cell / GridCells + 0.5) / GridCells + (random.NextDouble() * 2 - 1) * Jitter;
            objects.Add(new SceneObject(shape, colour, size, Round(x), Round(y), Round(size == Size.Large ? LargeRadius : SmallRadius)));
        }
        if (profile.HeldOutPairs)
        {
            // Out of distribution: make sure a held-out pair is in the picture.
            int i = random.Next(objects.Count);
            var (c, s) = Pick(random, SplitProfile.HeldOut);
            objects[i] = objects[i] with { Colour = c, Shape = s };
        }
        return Scene.OfShapes(SceneKind.Shapes, imageSize, objects);
    }

    /// <summary>Large shapes in one row, evenly spaced, for left/right questions.</summary>
    public static Scene Row(Random random, SplitProfile profile, int imageSize)
    {
        int count = random.Next(profile.MinRow, profile.MaxRow + 1);
        var colours = Enum.GetValues<Colour>().ToList();
        var shapes = Enum.GetValues<Shape>().ToList();
        double radius = Math.Min(0.12, 0.4 / count);
        var objects = new List<SceneObject>();
        for (int i = 0; i < count; i++)
        {
            var (colour, shape) = PickPair(random, colours, shapes, profile);
            double y = 0.5 + (random.NextDouble() * 2 - 1) * 0.08;
            objects.Add(new SceneObject(shape, colour, Size.Large, Round((i + 0.5) / count), Round(y), Round(radius)));
        }
        if (profile.HeldOutPairs)
        {
            int i = random.Next(objects.Count);
            var (c, s) = Pick(random, SplitProfile.HeldOut);
            objects[i] = objects[i] with { Colour = c, Shape = s };
        }
        return Scene.OfShapes(SceneKind.Row, imageSize, objects);
    }

    /// <summary>Single-digit numbers side by side, each in its own colour.</summary>
    public static Scene Digits(Random random, SplitProfile profile, int imageSize)
    {
        int count = profile.Numbers;
        var colours = Enum.GetValues<Colour>().OrderBy(_ => random.Next()).Take(count).ToList();
        double height = count <= 2 ? 0.44 : 0.33;
        var numbers = new List<SceneNumber>();
        for (int i = 0; i < count; i++)
        {
            double y = 0.5 + (random.NextDouble() * 2 - 1) * 0.12;
            numbers.Add(new SceneNumber(random.Next(1, 10), colours[i], Round((i + 0.5) / count), Round(y), height));
        }
        return Scene.OfNumbers(imageSize, numbers);
    }

    /// <summary>A bar chart with lettered bars and a grid line at every unit.</summary>
    public static Scene Bars(Random random, SplitProfile profile, int imageSize)
    {
        var colour = Pick(random, Enum.GetValues<Colour>());
        var bars = new List<SceneBar>();
        for (int i = 0; i < profile.Bars; i++)
            bars.Add(new SceneBar(((char)('A' + i)).ToString(), random.Next(1, profile.AxisMax + 1), colour));
        return Scene.OfBars(imageSize, bars, profile.AxisMax);
    }

    public static Scene For(SceneKind kind, Random random, SplitProfile profile, int imageSize) => kind switch
    {
        SceneKind.Shapes => Shapes(random, profile, imageSize),
        SceneKind.Row => Row(random, profile, imageSize),
        SceneKind.Digits => Digits(random, profile, imageSize),
        _ => Bars(random, profile, imageSize),
    };
}

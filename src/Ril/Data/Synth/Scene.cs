using System.Text.Json.Nodes;

namespace Ril.Data.Synth;

public enum Shape { Circle, Square, Triangle, Star }
public enum Colour { Red, Green, Blue, Yellow, Purple }
public enum Size { Small, Large }
public enum SceneKind { Shapes, Row, Digits, Bars }

/// <summary>Words the questions and solutions use, one place so every writer agrees.</summary>
public static class Words
{
    public static string Of(Shape s) => s.ToString().ToLowerInvariant();
    public static string Of(Colour c) => c.ToString().ToLowerInvariant();
    public static string Of(Size s) => s.ToString().ToLowerInvariant();
    public static string Plural(Shape s) => Of(s) + "s";
    public static string Count(int n, string singular, string plural) => n == 1 ? $"1 {singular}" : $"{n} {plural}";
    public static string IsAre(int n) => n == 1 ? "is" : "are";

    public static Shape ParseShape(string s) => Enum.Parse<Shape>(s, ignoreCase: true);
    public static Colour ParseColour(string s) => Enum.Parse<Colour>(s, ignoreCase: true);
    public static Size ParseSize(string s) => Enum.Parse<Size>(s, ignoreCase: true);
}

/// <summary>A shape in a scene. Coordinates are fractions of the image side, so a scene renders at any size.</summary>
public sealed record SceneObject(Shape Shape, Colour Colour, Size Size, double X, double Y, double Radius)
{
    public string Describe() => $"{Words.Of(Size)} {Words.Of(Colour)} {Words.Of(Shape)}";
}

/// <summary>A number drawn in the bitmap font, centred at (X, Y); Height is a fraction of the image side.</summary>
public sealed record SceneNumber(int Value, Colour Colour, double X, double Y, double Height);

/// <summary>One bar of a bar chart: its label under the axis and its height in grid units.</summary>
public sealed record SceneBar(string Label, int Value, Colour Colour);

/// <summary>
/// Everything needed to draw one image and answer any question about it. Stored in each row's
/// "scene" field, so answers can be recomputed and images re-rendered without trusting the text.
/// </summary>
public sealed record Scene(SceneKind Kind, int ImageSize, IReadOnlyList<SceneObject> Objects,
                           IReadOnlyList<SceneNumber> Numbers, IReadOnlyList<SceneBar> Bars, int AxisMax)
{
    public static Scene OfShapes(SceneKind kind, int size, IReadOnlyList<SceneObject> objects) => new(kind, size, objects, [], [], 0);
    public static Scene OfNumbers(int size, IReadOnlyList<SceneNumber> numbers) => new(SceneKind.Digits, size, [], numbers, [], 0);
    public static Scene OfBars(int size, IReadOnlyList<SceneBar> bars, int axisMax) => new(SceneKind.Bars, size, [], [], bars, axisMax);

    /// <summary>Objects from left to right (ties: top first), the reading order every writer uses.</summary>
    public IReadOnlyList<SceneObject> InReadingOrder() =>
        Kind == SceneKind.Row ? Objects.OrderBy(o => o.X).ToList() : Objects.OrderBy(o => Math.Floor(o.Y * 3)).ThenBy(o => o.X).ToList();

    static double Round(double v) => Math.Round(v, 4);

    public JsonObject ToJson()
    {
        var json = new JsonObject { ["kind"] = Kind.ToString().ToLowerInvariant(), ["image_size"] = ImageSize };
        switch (Kind)
        {
            case SceneKind.Shapes or SceneKind.Row:
                json["objects"] = new JsonArray(Objects.Select(o => (JsonNode)new JsonObject
                {
                    ["shape"] = Words.Of(o.Shape), ["colour"] = Words.Of(o.Colour), ["size"] = Words.Of(o.Size),
                    ["x"] = Round(o.X), ["y"] = Round(o.Y), ["r"] = Round(o.Radius),
                }).ToArray());
                break;
            case SceneKind.Digits:
                json["numbers"] = new JsonArray(Numbers.Select(n => (JsonNode)new JsonObject
                {
                    ["value"] = n.Value, ["colour"] = Words.Of(n.Colour), ["x"] = Round(n.X), ["y"] = Round(n.Y), ["h"] = Round(n.Height),
                }).ToArray());
                break;
            case SceneKind.Bars:
                json["axis_max"] = AxisMax;
                json["bars"] = new JsonArray(Bars.Select(b => (JsonNode)new JsonObject
                {
                    ["label"] = b.Label, ["value"] = b.Value, ["colour"] = Words.Of(b.Colour),
                }).ToArray());
                break;
        }
        return json;
    }

    public static Scene FromJson(JsonObject json)
    {
        var kind = Enum.Parse<SceneKind>(json["kind"]!.GetValue<string>(), ignoreCase: true);
        int size = json["image_size"]!.GetValue<int>();
        return kind switch
        {
            SceneKind.Shapes or SceneKind.Row => OfShapes(kind, size, json["objects"]!.AsArray().Select(n => new SceneObject(
                Words.ParseShape(n!["shape"]!.GetValue<string>()), Words.ParseColour(n["colour"]!.GetValue<string>()),
                Words.ParseSize(n["size"]!.GetValue<string>()), n["x"]!.GetValue<double>(), n["y"]!.GetValue<double>(),
                n["r"]!.GetValue<double>())).ToList()),
            SceneKind.Digits => OfNumbers(size, json["numbers"]!.AsArray().Select(n => new SceneNumber(
                n!["value"]!.GetValue<int>(), Words.ParseColour(n["colour"]!.GetValue<string>()), n["x"]!.GetValue<double>(),
                n["y"]!.GetValue<double>(), n["h"]!.GetValue<double>())).ToList()),
            _ => OfBars(size, json["bars"]!.AsArray().Select(n => new SceneBar(
                n!["label"]!.GetValue<string>(), n["value"]!.GetValue<int>(), Words.ParseColour(n["colour"]!.GetValue<string>()))).ToList(),
                json["axis_max"]!.GetValue<int>()),
        };
    }
}

using Ril.Data.Images;

namespace Ril.Data.Synth;

/// <summary>Draws a <see cref="Scene"/>. Pure: the same scene gives the same pixels, which the suite's tests rely on.</summary>
public static class SceneRenderer
{
    public static readonly Rgb Background = new(250, 250, 245);
    static readonly Rgb GridLine = new(200, 200, 200), Axis = new(60, 60, 60), Ink = new(30, 30, 30);

    public static Rgb ColourOf(Colour c) => c switch
    {
        Colour.Red => new(220, 45, 45),
        Colour.Green => new(40, 165, 70),
        Colour.Blue => new(40, 90, 225),
        Colour.Yellow => new(235, 190, 20),
        _ => new(150, 70, 200),
    };

    // Bar-chart layout, fractions of the image side.
    internal const double ChartLeft = 0.17, ChartRight = 0.96, ChartTop = 0.06, ChartBottom = 0.80, LabelCentreY = 0.9;

    public static Image Render(Scene scene)
    {
        var canvas = new Canvas(scene.ImageSize, scene.ImageSize, Background);
        switch (scene.Kind)
        {
            case SceneKind.Shapes or SceneKind.Row:
                foreach (var o in scene.Objects) DrawShape(canvas, o, scene.ImageSize);
                break;
            case SceneKind.Digits:
                foreach (var n in scene.Numbers)
                    BitmapFont.DrawCentred(canvas, n.Value.ToString(), n.X * scene.ImageSize, n.Y * scene.ImageSize,
                                           GlyphScale(n.Height, scene.ImageSize), ColourOf(n.Colour));
                break;
            case SceneKind.Bars:
                DrawBarChart(canvas, scene);
                break;
        }
        return canvas.ToImage();
    }

    /// <summary>The whole-pixel font scale that makes a glyph closest to <paramref name="height"/> (a fraction of the side).</summary>
    internal static int GlyphScale(double height, int imageSize) => Math.Max(1, (int)Math.Round(height * imageSize / BitmapFont.GlyphHeight));

    static void DrawShape(Canvas canvas, SceneObject o, int size)
    {
        double cx = o.X * size, cy = o.Y * size, r = o.Radius * size;
        var colour = ColourOf(o.Colour);
        switch (o.Shape)
        {
            case Shape.Circle:
                canvas.FillCircle(cx, cy, r, colour);
                break;
            case Shape.Square:
                double h = 0.86 * r; // about the circle's area, so size reads the same across shapes
                canvas.FillPolygon([(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)], colour);
                break;
            case Shape.Triangle:
                canvas.FillPolygon(RegularPolygon(cx, cy + 0.15 * r, 1.25 * r, 3, 1.25 * r), colour);
                break;
            case Shape.Star:
                canvas.FillPolygon(RegularPolygon(cx, cy + 0.05 * r, 1.3 * r, 5, 0.5 * 1.3 * r), colour);
                break;
        }
    }

    /// <summary>Vertices of an upward-pointing regular polygon, or of a star when the inner radius is smaller.</summary>
    static List<(double, double)> RegularPolygon(double cx, double cy, double outer, int points, double inner)
    {
        bool star = inner < outer;
        int n = star ? points * 2 : points;
        var vertices = new List<(double, double)>(n);
        for (int i = 0; i < n; i++)
        {
            double angle = -Math.PI / 2 + i * 2 * Math.PI / n;
            double radius = star && i % 2 == 1 ? inner : outer;
            vertices.Add((cx + radius * Math.Cos(angle), cy + radius * Math.Sin(angle)));
        }
        return vertices;
    }

    /// <summary>Where bar <paramref name="index"/> of <paramref name="count"/> stands: its left and right edges (fractions of the side).</summary>
    internal static (double Left, double Right) BarSpan(int index, int count)
    {
        double slot = (ChartRight - ChartLeft) / count;
        double left = ChartLeft + index * slot + 0.2 * slot;
        return (left, left + 0.6 * slot);
    }

    static void DrawBarChart(Canvas canvas, Scene scene)
    {
        int size = scene.ImageSize;
        double unit = (ChartBottom - ChartTop) / scene.AxisMax * size;
        double line = Math.Max(1, Math.Round(size / 64.0));
        double left = ChartLeft * size, right = ChartRight * size, bottom = ChartBottom * size;
        int fontScale = Math.Max(1, size / 64);
        // Horizontal grid lines at every unit so values can be read by counting; even values labelled.
        for (int v = 1; v <= scene.AxisMax; v++)
        {
            double y = Math.Round(bottom - v * unit);
            canvas.FillRect(left, y, right, y + line, GridLine);
            if (v % 2 == 0)
                BitmapFont.DrawCentred(canvas, v.ToString(), left / 2, y + line / 2, fontScale, Ink);
        }
        for (int i = 0; i < scene.Bars.Count; i++)
        {
            var bar = scene.Bars[i];
            var (l, r) = BarSpan(i, scene.Bars.Count);
            canvas.FillRect(Math.Round(l * size), Math.Round(bottom - bar.Value * unit), Math.Round(r * size), bottom, ColourOf(bar.Colour));
            BitmapFont.DrawCentred(canvas, bar.Label, (l + r) / 2 * size, LabelCentreY * size, fontScale, Ink);
        }
        canvas.FillRect(left - line, ChartTop * size, left, bottom + line, Axis);
        canvas.FillRect(left - line, bottom, right, bottom + line, Axis);
    }
}

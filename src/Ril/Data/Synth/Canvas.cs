using Ril.Data.Images;

namespace Ril.Data.Synth;

public readonly record struct Rgb(byte R, byte G, byte B);

/// <summary>
/// A small anti-aliased rasteriser. Each fill computes, per pixel, the signed distance from the pixel
/// centre to the shape's edge and covers the pixel by clamp(0.5 − distance): a one-pixel ramp that
/// keeps small shapes smooth without supersampling. Colours blend linearly in sRGB values, which is
/// plenty for flat synthetic scenes.
/// </summary>
public sealed class Canvas
{
    public int Width { get; }
    public int Height { get; }
    readonly float[] _rgb;

    public Canvas(int width, int height, Rgb background)
    {
        Width = width; Height = height;
        _rgb = new float[width * height * 3];
        for (int i = 0; i < width * height; i++) { _rgb[3 * i] = background.R; _rgb[3 * i + 1] = background.G; _rgb[3 * i + 2] = background.B; }
    }

    void Blend(int x, int y, Rgb colour, double coverage)
    {
        if (coverage <= 0) return;
        if (coverage > 1) coverage = 1;
        int i = (y * Width + x) * 3;
        float a = (float)coverage;
        _rgb[i] += (colour.R - _rgb[i]) * a;
        _rgb[i + 1] += (colour.G - _rgb[i + 1]) * a;
        _rgb[i + 2] += (colour.B - _rgb[i + 2]) * a;
    }

    /// <summary>Pixels whose centres lie within <paramref name="margin"/> of the box, clipped to the canvas.</summary>
    (int X0, int Y0, int X1, int Y1) Bounds(double minX, double minY, double maxX, double maxY, double margin = 1) =>
        (Math.Max(0, (int)Math.Floor(minX - margin)), Math.Max(0, (int)Math.Floor(minY - margin)),
         Math.Min(Width - 1, (int)Math.Ceiling(maxX + margin)), Math.Min(Height - 1, (int)Math.Ceiling(maxY + margin)));

    public void FillCircle(double cx, double cy, double radius, Rgb colour)
    {
        var (x0, y0, x1, y1) = Bounds(cx - radius, cy - radius, cx + radius, cy + radius);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
                Blend(x, y, colour, radius - Math.Sqrt(dx * dx + dy * dy) + 0.5);
            }
    }

    /// <summary>Any simple polygon (convex or not, e.g. a star), vertices in pixel units.</summary>
    public void FillPolygon(IReadOnlyList<(double X, double Y)> points, Rgb colour)
    {
        double minX = points.Min(p => p.X), maxX = points.Max(p => p.X), minY = points.Min(p => p.Y), maxY = points.Max(p => p.Y);
        var (x0, y0, x1, y1) = Bounds(minX, minY, maxX, maxY);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                double px = x + 0.5, py = y + 0.5;
                double nearest = double.MaxValue;
                bool inside = false;
                for (int i = 0, j = points.Count - 1; i < points.Count; j = i++)
                {
                    var (ax, ay) = points[j];
                    var (bx, by) = points[i];
                    nearest = Math.Min(nearest, SegmentDistance(px, py, ax, ay, bx, by));
                    if ((ay > py) != (by > py) && px < ax + (py - ay) * (bx - ax) / (by - ay)) inside = !inside;
                }
                Blend(x, y, colour, (inside ? nearest : -nearest) + 0.5);
            }
    }

    static double SegmentDistance(double px, double py, double ax, double ay, double bx, double by)
    {
        double dx = bx - ax, dy = by - ay;
        double t = Math.Clamp(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0, 1);
        double ex = px - (ax + t * dx), ey = py - (ay + t * dy);
        return Math.Sqrt(ex * ex + ey * ey);
    }

    /// <summary>An axis-aligned rectangle; partly covered edge pixels get their exact covered area.</summary>
    public void FillRect(double left, double top, double right, double bottom, Rgb colour)
    {
        var (x0, y0, x1, y1) = Bounds(left, top, right, bottom, 0);
        for (int y = y0; y <= y1; y++)
        {
            double cy = Math.Min(bottom, y + 1) - Math.Max(top, y);
            if (cy <= 0) continue;
            for (int x = x0; x <= x1; x++)
            {
                double cx = Math.Min(right, x + 1) - Math.Max(left, x);
                if (cx > 0) Blend(x, y, colour, cx * cy);
            }
        }
    }

    public Image ToImage()
    {
        var image = new Image(Width, Height, 3);
        for (int i = 0; i < _rgb.Length; i++) image.Pixels[i] = (byte)Math.Clamp((int)MathF.Round(_rgb[i]), 0, 255);
        return image;
    }
}

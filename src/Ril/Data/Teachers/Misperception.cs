using Ril.Data.Synth;

namespace Ril.Data.Teachers;

/// <summary>
/// Plausible perception mistakes, used to give scripted teachers an error rate: the teacher reasons
/// correctly about a slightly wrong scene, so its mistaken answer comes with consistent reasoning.
/// </summary>
public static class Misperception
{
    /// <summary>A scene with one thing misread.</summary>
    public static Scene Perturb(Scene scene, Random random)
    {
        switch (scene.Kind)
        {
            case SceneKind.Shapes or SceneKind.Row:
            {
                var objects = scene.Objects.ToList();
                int i = random.Next(objects.Count);
                var o = objects[i];
                switch (random.Next(scene.Kind == SceneKind.Row ? 2 : 4))
                {
                    case 0: objects[i] = o with { Colour = Other(o.Colour, random) }; break;
                    case 1: objects[i] = o with { Shape = Other(o.Shape, random) }; break;
                    case 2: objects[i] = o with { Size = o.Size == Size.Large ? Size.Small : Size.Large }; break;
                    default: if (objects.Count > 1) objects.RemoveAt(i); break; // overlooked
                }
                return scene with { Objects = objects };
            }
            case SceneKind.Digits:
            {
                var numbers = scene.Numbers.ToList();
                int i = random.Next(numbers.Count);
                int v = numbers[i].Value;
                numbers[i] = numbers[i] with { Value = v == 9 ? 8 : v == 1 ? 2 : v + (random.Next(2) == 0 ? -1 : 1) };
                return scene with { Numbers = numbers };
            }
            default:
            {
                var bars = scene.Bars.ToList();
                int i = random.Next(bars.Count);
                int v = bars[i].Value;
                bars[i] = bars[i] with { Value = v == scene.AxisMax ? v - 1 : v == 1 ? 2 : v + (random.Next(2) == 0 ? -1 : 1) };
                return scene with { Bars = bars };
            }
        }
    }

    /// <summary>Reasoning from a misperceived scene whose answer differs from <paramref name="truth"/>, or null if none was found.</summary>
    public static Reasoning? WrongReasoning(Scene scene, QuestionSpec spec, QuestionFamily family, Reasoning truth, Random random)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            var seen = family.Solve(Perturb(scene, random), spec);
            if (seen != null && seen.Answer != truth.Answer) return seen;
        }
        return null;
    }

    static T Other<T>(T value, Random random) where T : struct, Enum
    {
        var others = Enum.GetValues<T>().Where(v => !v.Equals(value)).ToList();
        return others[random.Next(others.Count)];
    }
}

namespace Ril.Data.Synth;

/// <summary>
/// The suite's reference solution: short, step by step, ending in \boxed{answer}. Deliberately plain,
/// so that it reads like none of the scripted teachers in particular.
/// </summary>
public static class GoldSolution
{
    public static string Write(Reasoning reasoning)
    {
        var relevant = reasoning.Relevant.Select(o => o.Text).ToList();
        var lines = new List<string>
        {
            $"Look for {reasoning.Find}: {(relevant.Count == 0 ? "there are none" : string.Join(", ", relevant))}.",
        };
        lines.AddRange(reasoning.Steps);
        lines.Add($"The answer is \\boxed{{{reasoning.Answer}}}.");
        return string.Join("\n", lines);
    }
}

/// <summary>Seeds that depend only on their inputs (unlike HashCode.Combine, which changes per process), so every row is reproducible on its own.</summary>
public static class StableSeed
{
    public static int Mix(params long[] parts)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (var p in parts)
        {
            h ^= (ulong)p + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
            h = SplitMix(h);
        }
        return (int)(h & 0x7FFFFFFF);
    }

    public static int Of(string text) => Mix(text.Select(c => (long)c).ToArray());

    static ulong SplitMix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

using System.Text.RegularExpressions;
using Ril.Tests.Data;

namespace Ril.Tests;

/// <summary>The specification pages the source cites are the repository's own: every cited path exists.</summary>
public sealed partial class SpecReferencesTests
{
    [GeneratedRegex(@"(?<![A-Za-z0-9_/.-])(?:[A-Za-z0-9_.-]+/)*spec/[A-Za-z0-9_.-]*[A-Za-z0-9_]")]
    private static partial Regex SpecPath();

    [Fact]
    public void Every_spec_path_in_the_source_exists_in_the_repository()
    {
        var cited = new List<(string File, string Path)>();
        foreach (var folder in new[] { "src", "tests", "bench", "configs" })
            foreach (var file in Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, folder), "*", SearchOption.AllDirectories)
                         .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                                     && !f.Contains("node_modules") && Path.GetExtension(f) is ".cs" or ".py" or ".yaml" or ".sh" or ".mjs"))
                foreach (Match m in SpecPath().Matches(File.ReadAllText(file)))
                    cited.Add((Path.GetRelativePath(RepoPaths.Root, file), m.Value));
        Assert.NotEmpty(cited);
        var missing = cited.Where(c => !File.Exists(Path.Combine(RepoPaths.Root, c.Path))).Select(c => $"{c.File}: {c.Path}").Distinct().ToList();
        Assert.True(missing.Count == 0, "cited but not in the repository:\n" + string.Join("\n", missing));
    }
}

using System.Runtime.CompilerServices;

namespace Ril.Tests.Data;

/// <summary>
/// Finds the repository root (the folder holding Ril.sln) and its test fixtures:
/// walking up from the test assembly, or else from this source file's compile-time location.
/// </summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Fixtures => Path.Combine(Root, "tests", "fixtures");
    public static string PngFixtures => Path.Combine(Fixtures, "png");
    /// <summary>MAYE's released JSONL files (tests/fixtures/maye/README.md says where they come from).</summary>
    public static string MayeData => Path.Combine(Fixtures, "maye");
    /// <summary>PngSuite's basic images, with their licence (tests/fixtures/pngsuite/README).</summary>
    public static string PngSuite => Path.Combine(Fixtures, "pngsuite");

    static string FindRoot([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "" })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Ril.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no Ril.sln above {AppContext.BaseDirectory} or {sourceFile}");
    }
}

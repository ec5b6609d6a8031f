namespace Ril.Tensors.Tests;

/// <summary>Paths of the committed test fixtures, read in place from the repository (the test project copies nothing).</summary>
public static class Fixtures
{
    /// <summary>The repository root: the first folder holding Ril.sln above the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    public static string Dir => Path.Combine(Root, "tests", "fixtures");
    public static string Torch => Path.Combine(Dir, "torch");

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ril.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no Ril.sln in {AppContext.BaseDirectory} or any folder above it");
    }
}

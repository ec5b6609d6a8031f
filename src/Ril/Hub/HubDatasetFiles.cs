namespace Ril.Hub;

/// <summary>
/// Which Parquet files of a dataset repository hold a split, by the layouts the Hub uses: <c>data/train-00000-of-00002.parquet</c>,
/// <c>train.parquet</c>, <c>data/train/…</c>, <c>{config}/train-….parquet</c>, and those of the converted Parquet branch
/// (<c>refs/convert/parquet</c>): <c>{config}/train/0000.parquet</c> and <c>{config}/{name}-train.parquet</c>.
/// </summary>
public static class HubDatasetFiles
{
    /// <summary>The converted Parquet branch the Hub keeps of every dataset it can read.</summary>
    public const string ConvertedParquetRevision = "refs/convert/parquet";

    /// <summary>The files of <paramref name="repositoryFiles"/> holding <paramref name="split"/> (of <paramref name="config"/>, when given), in order.</summary>
    public static IReadOnlyList<string> Select(IEnumerable<string> repositoryFiles, string? config, string split) =>
        repositoryFiles.Where(f => f.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
            .Where(f => config is null || f.StartsWith(config + "/", StringComparison.Ordinal))
            .Where(f => HoldsSplit(config is null ? f : f[(config.Length + 1)..], split))
            .Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>The top folders <paramref name="files"/> lie in (a config each, or <c>data</c>; "" for the repository's root).</summary>
    public static IReadOnlyList<string> TopFolders(IEnumerable<string> files) =>
        files.Select(f => f.Contains('/') ? f[..f.IndexOf('/')] : "").Distinct().Order(StringComparer.Ordinal).ToList();

    static bool HoldsSplit(string path, string split)
    {
        var parts = path.Split('/');
        var name = Path.GetFileNameWithoutExtension(parts[^1]);
        if (parts[..^1].Contains(split, StringComparer.Ordinal)) return true;   // data/train/…, default/train/0000.parquet
        return name == split || name.StartsWith(split + "-", StringComparison.Ordinal)   // train.parquet, train-00000-of-00001.parquet
            || name.EndsWith("-" + split, StringComparison.Ordinal);   // geometry3k-train.parquet (older conversions)
    }
}

using Ril.Hub;

namespace Ril.Data;

/// <summary>
/// The one way a dataset argument (a recipe's <c>data.train</c>, <c>--dataset</c>, <c>--data</c>) becomes rows: a MAYE
/// JSONL file, a Parquet file, a folder of Parquet files (read in name order), or a Hub dataset
/// <c>Org/Name[:config][@split][#revision]</c> resolved through the Hub cache. Rows stream; Parquet row groups are read
/// one at a time.
/// </summary>
public static class DatasetSource
{
    /// <summary>What the CLI's help says a dataset argument may be.</summary>
    public const string ArgumentDescription = "a JSONL file (MAYE's or any with --*-key), a Parquet file or folder, or a Hub dataset Org/Name[:config][@split][#revision]";

    /// <summary>The local files of <paramref name="argument"/>: itself, the Parquet files of a folder, or a Hub split's files (downloaded into the cache as needed).</summary>
    /// <exception cref="FileNotFoundException">Not a file, a folder or a Hub dataset id.</exception>
    public static IReadOnlyList<string> Files(string argument, HubOptions? hub = null)
    {
        ArgumentNullException.ThrowIfNull(argument);
        if (File.Exists(argument)) return [argument];
        if (Directory.Exists(argument))
        {
            var files = Directory.EnumerateFiles(argument, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
            return files.Count > 0 ? files : throw new FileNotFoundException($"dataset folder {argument} holds no .parquet files", argument);
        }
        if (HubDatasetId.TryParse(argument, out var id)) return DatasetLocation.Resolve(id, hub);
        throw new FileNotFoundException($"dataset '{argument}' not found: not a file, not a folder, and not a Hub dataset id ({ArgumentDescription})", argument);
    }

    /// <summary>The rows of <paramref name="argument"/>; <paramref name="keys"/> name the fields (JSONL) or columns (Parquet) alike.</summary>
    public static IEnumerable<DatasetRow> Read(string argument, DatasetKeys? keys = null, ImageMode images = ImageMode.Require, HubOptions? hub = null)
    {
        foreach (var file in Files(argument, hub))
            foreach (var row in IsParquet(file) ? ParquetDataset.Read(file, keys, images) : JsonlDataset.Read(file, keys, images))
                yield return row;
    }

    public static List<DatasetRow> Load(string argument, DatasetKeys? keys = null, ImageMode images = ImageMode.Require, HubOptions? hub = null) =>
        Read(argument, keys, images, hub).ToList();

    /// <summary>The split's name as outputs show it: the split of a Hub id, else the file's or folder's name without extension.</summary>
    public static string SplitName(string argument) =>
        !File.Exists(argument) && !Directory.Exists(argument) && HubDatasetId.TryParse(argument, out var id)
            ? id.Split
            : Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(argument));

    public static bool IsParquet(string file) => file.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);
}

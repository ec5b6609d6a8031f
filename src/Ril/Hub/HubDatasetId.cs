using System.Diagnostics.CodeAnalysis;

namespace Ril.Hub;

/// <summary>
/// A split of a dataset repository on the Hub, written as EasyR1 addresses it: <c>Org/Name@split</c>
/// (<c>hiyouga/geometry3k@train</c>; the split is <c>train</c> when omitted), optionally with a config name
/// (<c>Org/Name:config@split</c>) and a revision (<c>Org/Name@split#revision</c>, <c>main</c> when omitted).
/// </summary>
public sealed record HubDatasetId(string Repo, string? Config, string Split, string Revision)
{
    public const string DefaultSplit = "train";

    /// <summary>The repository at the revision, as the Hub client and cache take it.</summary>
    public HubModelId Repository => RepositoryAt(Revision);

    public HubModelId RepositoryAt(string revision) => new(Repo, revision) { Kind = HubRepoKind.Dataset };

    public override string ToString() => $"{Repo}{(Config is null ? "" : ":" + Config)}@{Split}{(Revision == HubModelId.DefaultRevision ? "" : "#" + Revision)}";

    /// <summary>Reads <c>Org/Name[:config][@split][#revision]</c>; false for anything else (a path, a bare name, a name ending in a data file's extension).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out HubDatasetId? id)
    {
        id = null;
        if (string.IsNullOrEmpty(text)) return false;
        var rest = text;
        string revision = HubModelId.DefaultRevision, split = DefaultSplit;
        string? config = null;
        int hash = rest.IndexOf('#');
        if (hash >= 0) { revision = rest[(hash + 1)..]; rest = rest[..hash]; }
        int at = rest.IndexOf('@');
        if (at >= 0) { split = rest[(at + 1)..]; rest = rest[..at]; }
        int colon = rest.IndexOf(':');
        if (colon >= 0) { config = rest[(colon + 1)..]; rest = rest[..colon]; }
        // "data/train.parquet" is a missing file far more often than a repository named like one.
        if (FileExtensions.Any(e => rest.EndsWith(e, StringComparison.OrdinalIgnoreCase))) return false;
        if (!HubModelId.TryParse($"{rest}@{revision}", out var repository)) return false;
        if (!IsValidPart(split) || (config is not null && !IsValidPart(config))) return false;
        id = new HubDatasetId(repository.Repo, config, split, repository.Revision);
        return true;
    }

    static readonly string[] FileExtensions = [".parquet", ".jsonl", ".json", ".csv", ".arrow"];

    // Splits and configs become parts of file paths in the repository: names without separators.
    static bool IsValidPart(string part) => HubModelId.IsValidName(part);
}

using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Ril.Hub;

/// <summary>The two kinds of Hub repository Ril reads: models and datasets (their API paths, URLs and cache folders differ).</summary>
public enum HubRepoKind
{
    Model,
    Dataset,
}

/// <summary>
/// A model repository on the Hugging Face Hub and one revision of it, written <c>Org/Name</c> or <c>Org/Name@revision</c>
/// (a branch, a tag or a commit hash; <c>main</c> when omitted), as <c>from_pretrained</c> takes it. With
/// <see cref="Kind"/> <see cref="HubRepoKind.Dataset"/> it names a dataset repository instead (see <see cref="HubDatasetId"/>).
/// </summary>
public sealed partial record HubModelId(string Repo, string Revision)
{
    public const string DefaultRevision = "main";

    public HubRepoKind Kind { get; init; } = HubRepoKind.Model;

    /// <summary>The folder the huggingface_hub cache keeps this repository in: <c>models--Org--Name</c> or <c>datasets--Org--Name</c>.</summary>
    public string CacheFolderName => KindPlural + "--" + Repo.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>"models" or "datasets": the segment of the Hub's API paths and of the cache's folder names.</summary>
    public string KindPlural => Kind == HubRepoKind.Dataset ? "datasets" : "models";

    /// <summary>"model" or "dataset", as messages name the repository.</summary>
    public string KindName => Kind == HubRepoKind.Dataset ? "dataset" : "model";

    /// <summary>Whether the revision is a full commit hash (then no ref names it in the cache).</summary>
    public bool RevisionIsCommit => CommitHash().IsMatch(Revision);

    public override string ToString() => $"{Repo}@{Revision}";

    /// <summary>Reads <c>Org/Name</c> or <c>Org/Name@revision</c>; false for anything else (a path, a bare name).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out HubModelId? id)
    {
        id = null;
        if (string.IsNullOrEmpty(text)) return false;
        int at = text.IndexOf('@');
        var repo = at < 0 ? text : text[..at];
        var revision = at < 0 ? DefaultRevision : text[(at + 1)..];
        var parts = repo.Split('/');
        if (parts.Length != 2 || !parts.All(IsValidName) || !IsValidRevision(revision)) return false;
        id = new HubModelId(repo, revision);
        return true;
    }

    /// <summary>Like <see cref="TryParse"/>, throwing an <see cref="ArgumentException"/> that says what a Hub id looks like.</summary>
    public static HubModelId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new ArgumentException($"'{text}' is not a Hub id: expected Org/Name or Org/Name@revision");

    // The Hub's rule for each half of a repo id; "--" and ".." are refused because the cache uses "--" as its separator.
    internal static bool IsValidName(string name) =>
        name.Length is > 0 and <= 96 && NamePattern().IsMatch(name) && !name.Contains("--", StringComparison.Ordinal) && !name.Contains("..", StringComparison.Ordinal);

    // A revision becomes a path under refs/ in the cache, so it must not climb out of it.
    internal static bool IsValidRevision(string revision) =>
        revision.Length is > 0 and <= 256 && RevisionPattern().IsMatch(revision) && !revision.Split('/').Any(s => s is "" or "." or "..");

    [GeneratedRegex("^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9_.\\-/]+$")]
    private static partial Regex RevisionPattern();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();
}

namespace Ril.Hub;

/// <summary>What went wrong fetching a model from the Hub, so that callers (and tests) can tell the cases apart.</summary>
public enum HubErrorKind
{
    /// <summary>The Hub has no such repository (404, error code RepoNotFound).</summary>
    RepositoryNotFound,
    /// <summary>The repository is private or gated and the request carried no token, or one that does not grant access (401/403).</summary>
    AuthenticationRequired,
    /// <summary>The repository has no such branch, tag or commit.</summary>
    RevisionNotFound,
    /// <summary>A file the revision lists could not be found, or the revision holds no config.json.</summary>
    FileNotFound,
    /// <summary>Offline (HF_HUB_OFFLINE, or the Hub unreachable) and the cache does not hold the revision.</summary>
    NotCached,
    /// <summary>A downloaded file's size or sha256 is not what the Hub announced.</summary>
    ChecksumMismatch,
    /// <summary>No space left on the cache's disk.</summary>
    DiskFull,
    /// <summary>The cache folder cannot be written (permissions, a read-only disk).</summary>
    CacheNotWritable,
    /// <summary>The Hub could not be reached, or kept failing (5xx, cut connections) after the retries.</summary>
    Network,
    /// <summary>The Hub answered something this client cannot use (a status or headers it does not expect).</summary>
    InvalidResponse,
}

/// <summary>
/// A failure to resolve a Hub id to a local folder; the message names the repository and revision. An <see cref="IOException"/>,
/// so that the CLI reports it as one line like other file errors.
/// </summary>
public sealed class HubException(HubErrorKind kind, string message, Exception? inner = null) : IOException(message, inner)
{
    public HubErrorKind Kind { get; } = kind;
}

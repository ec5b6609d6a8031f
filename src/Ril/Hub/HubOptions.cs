namespace Ril.Hub;

/// <summary>
/// Where the Hub cache is, which Hub to ask and how. <see cref="FromEnvironment()"/> reads the variables huggingface_hub
/// reads, so a cache Python tools filled is shared; tests set the properties directly.
/// </summary>
public sealed record HubOptions
{
    public const string PublicEndpoint = "https://huggingface.co";

    /// <summary>The cache root holding <c>models--Org--Name</c> folders.</summary>
    public string CacheDirectory { get; init; } = DefaultCacheDirectory(Environment.GetEnvironmentVariable);

    /// <summary>The Hub's base URL, without a trailing slash.</summary>
    public string Endpoint { get; init; } = PublicEndpoint;

    /// <summary>A user access token, sent as a bearer token to the endpoint's host (never to the hosts it redirects to).</summary>
    public string? Token { get; init; }

    /// <summary>Use the cache only; never touch the network.</summary>
    public bool Offline { get; init; }

    /// <summary>Download progress, reported synchronously on the downloading thread.</summary>
    public IProgress<HubDownloadProgress>? Progress { get; init; }

    /// <summary>A line for each thing worth telling a user: a retry, a fallback to the cache.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Attempts at each request before giving up on 5xx answers and cut connections.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>The wait before the first retry; each further retry waits twice as long.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for the Hub to answer, or for the next bytes of a body, before counting the attempt as failed.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The options the environment gives: HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE (as huggingface_hub reads them).</summary>
    public static HubOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary><see cref="FromEnvironment()"/> with the variables looked up by <paramref name="variable"/>.</summary>
    public static HubOptions FromEnvironment(Func<string, string?> variable) => new()
    {
        CacheDirectory = DefaultCacheDirectory(variable),
        Endpoint = (NonEmpty(variable("HF_ENDPOINT")) ?? PublicEndpoint).TrimEnd('/'),
        Token = TokenFrom(variable),
        Offline = IsTrue(NonEmpty(variable("HF_HUB_OFFLINE")) ?? variable("TRANSFORMERS_OFFLINE")),
    };

    /// <summary>huggingface_hub's truth test for flags: 1, ON, YES or TRUE in any case.</summary>
    public static bool IsTrue(string? value) => value?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    /// <summary>HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, HF_HOME defaulting to XDG_CACHE_HOME/huggingface or ~/.cache/huggingface.</summary>
    public static string DefaultCacheDirectory(Func<string, string?> variable) =>
        ExpandHome(NonEmpty(variable("HF_HUB_CACHE")) ?? NonEmpty(variable("HUGGINGFACE_HUB_CACHE")) ?? Path.Combine(Home(variable), "hub"));

    static string Home(Func<string, string?> variable) =>
        ExpandHome(NonEmpty(variable("HF_HOME"))
                   ?? Path.Combine(NonEmpty(variable("XDG_CACHE_HOME")) ?? Path.Combine(UserHome(), ".cache"), "huggingface"));

    // HF_TOKEN wins; then the legacy variable; then the file `hf auth login` writes (HF_TOKEN_PATH, else HF_HOME/token).
    static string? TokenFrom(Func<string, string?> variable)
    {
        if (NonEmpty(variable("HF_TOKEN")) is { } token) return token.Trim();
        if (NonEmpty(variable("HUGGING_FACE_HUB_TOKEN")) is { } legacy) return legacy.Trim();
        var file = ExpandHome(NonEmpty(variable("HF_TOKEN_PATH")) ?? Path.Combine(Home(variable), "token"));
        try { return File.Exists(file) ? NonEmpty(File.ReadAllText(file).Trim()) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    static string UserHome() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    static string ExpandHome(string path) =>
        path == "~" ? UserHome() : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(UserHome(), path[2..]) : path;
}

using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ril.Hub;

/// <summary>What the revision API says of a revision: the commit it is at and the files in it.</summary>
public sealed record HubRevision(string Commit, IReadOnlyList<string> Files);

/// <summary>
/// What a HEAD on a file's resolve URL says: its etag (the blob's name in the cache; for LFS files the sha256 of the
/// content), its size, the commit, and where to GET it (the CDN an LFS file redirects to, or the resolve URL itself).
/// </summary>
public sealed record HubFileMetadata(string File, string Etag, long Size, string? Commit, Uri Location, bool IsLfs);

/// <summary>
/// The Hub's HTTP protocol for one repository and revision: the revision API, HEAD on resolve URLs, and resumable
/// ranged downloads. Follows redirects by hand so that relative ones (renamed repositories) keep the token and absolute
/// ones (the CDN) do not get it; retries 5xx answers and cut connections with exponential backoff.
/// </summary>
public sealed partial class HubClient : IDisposable
{
    const int MaxRedirects = 10;
    readonly HttpClient _http;
    readonly HubOptions _options;
    readonly Uri _endpoint;

    public HubModelId Id { get; }

    public HubClient(HubModelId id, HubOptions options)
    {
        Id = id;
        _options = options;
        _endpoint = new Uri(options.Endpoint.TrimEnd('/') + "/");
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = options.Timeout, AutomaticDecompression = DecompressionMethods.None };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("ril-hub/0.1");
    }

    public void Dispose() => _http.Dispose();

    string Prefix => $"Hub {Id.KindName} {Id}: ";

    /// <summary>The commit the revision is at and its files (<c>/api/models/{repo}/revision/{revision}</c>, or <c>/api/datasets/…</c>). Does not retry an unreachable Hub: the caller falls back to the cache.</summary>
    public async Task<HubRevision> RevisionAsync(CancellationToken cancel)
    {
        var url = new Uri(_endpoint, $"api/{Id.KindPlural}/{Id.Repo}/revision/{Uri.EscapeDataString(Id.Revision)}");
        for (int attempt = 1; ; attempt++)
        {
            string reason;
            try
            {
                using var response = await SendAsync(HttpMethod.Get, url, followAbsolute: true, range: null, cancel);
                if (!IsTransient(response.StatusCode) || attempt >= _options.MaxAttempts)
                {
                    if (!response.IsSuccessStatusCode) throw ErrorFor(response, file: null, attempt);
                    return ParseRevision(await response.Content.ReadAsStringAsync(cancel));
                }
                reason = $"HTTP {(int)response.StatusCode} from {url}";
            }
            catch (Exception e) when (IsNetworkFailure(e, cancel))
            {
                if (attempt >= _options.MaxAttempts || IsUnreachable(e))
                    throw new HubException(HubErrorKind.Network, $"{Prefix}cannot reach the Hub at {_options.Endpoint} ({Describe(e)})", e);
                reason = Describe(e);
            }
            await WaitBeforeRetryAsync(attempt, reason, cancel);
        }
    }

    HubRevision ParseRevision(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var sha = root.TryGetProperty("sha", out var s) ? s.GetString() : null;
            if (sha is null || !CommitPattern().IsMatch(sha))
                throw new HubException(HubErrorKind.InvalidResponse, $"{Prefix}the revision API gave no commit hash (sha: {sha ?? "missing"})");
            var files = new List<string>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
                foreach (var sibling in siblings.EnumerateArray())
                    if (sibling.TryGetProperty("rfilename", out var name) && name.GetString() is { } file && IsSafeRelativePath(file)) files.Add(file);
            return new HubRevision(sha, files);
        }
        catch (JsonException e) { throw new HubException(HubErrorKind.InvalidResponse, $"{Prefix}the revision API answered something that is not JSON ({e.Message})", e); }
    }

    /// <summary>HEAD on the file's resolve URL at <paramref name="commit"/>: follows relative redirects, stops at an absolute one (the CDN) and reads the headers there.</summary>
    public async Task<HubFileMetadata> MetadataAsync(string commit, string file, CancellationToken cancel)
    {
        var url = ResolveUrl(commit, file);
        for (int attempt = 1; ; attempt++)
        {
            string reason;
            try
            {
                using var response = await SendAsync(HttpMethod.Head, url, followAbsolute: false, range: null, cancel);
                if (!IsTransient(response.StatusCode) || attempt >= _options.MaxAttempts) return ReadMetadata(response, file, attempt);
                reason = $"HTTP {(int)response.StatusCode} from {url}";
            }
            catch (Exception e) when (IsNetworkFailure(e, cancel))
            {
                if (attempt >= _options.MaxAttempts)
                    throw new HubException(HubErrorKind.Network, $"{Prefix}cannot reach the Hub at {_options.Endpoint} for {file} ({Describe(e)})", e);
                reason = Describe(e);
            }
            await WaitBeforeRetryAsync(attempt, reason, cancel);
        }
    }

    HubFileMetadata ReadMetadata(HttpResponseMessage response, string file, int attempts)
    {
        int status = (int)response.StatusCode;
        if (status is < 200 or >= 400) throw ErrorFor(response, file, attempts);
        var linkedEtag = Header(response, "X-Linked-Etag");
        var etag = NormalizeEtag(linkedEtag ?? Header(response, "ETag"));
        if (etag is null || !EtagPattern().IsMatch(etag))
            throw new HubException(HubErrorKind.InvalidResponse, $"{Prefix}the Hub gave no usable ETag for {file} (got '{etag}')");
        long? size = long.TryParse(Header(response, "X-Linked-Size"), NumberStyles.None, CultureInfo.InvariantCulture, out var linked) ? linked : response.Content.Headers.ContentLength;
        if (size is null) throw new HubException(HubErrorKind.InvalidResponse, $"{Prefix}the Hub gave no size for {file} (no X-Linked-Size or Content-Length)");
        var location = status >= 300 ? RedirectTarget(response) ?? response.RequestMessage!.RequestUri! : response.RequestMessage!.RequestUri!;
        return new HubFileMetadata(file, etag, size.Value, Header(response, "X-Repo-Commit"), location, IsLfs: linkedEtag is not null);
    }

    /// <summary>
    /// Downloads <paramref name="file"/> into <paramref name="partialPath"/>, continuing from what is already there with a
    /// Range request; retries cut connections and 5xx answers, keeping what arrived. Returns when the file has exactly
    /// the announced size. <paramref name="received"/> gets the bytes on disk as they grow.
    /// </summary>
    public async Task DownloadAsync(HubFileMetadata file, string partialPath, Action<long> received, CancellationToken cancel)
    {
        for (int attempt = 1; ; attempt++)
        {
            long have = LengthOf(partialPath);
            if (have > file.Size) { File.Delete(partialPath); have = 0; }
            if (have == file.Size) { Write(partialPath, () => new FileStream(partialPath, FileMode.OpenOrCreate).Dispose()); return; }
            string reason;
            try
            {
                var range = have > 0 ? new RangeHeaderValue(have, null) : null;
                using var response = await SendAsync(HttpMethod.Get, file.Location, followAbsolute: true, range, cancel);
                if (IsTransient(response.StatusCode)) reason = $"HTTP {(int)response.StatusCode} for {file.File}";
                else if (!response.IsSuccessStatusCode) throw ErrorFor(response, file.File, attempt);
                else if (response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From != have)
                {
                    File.Delete(partialPath);
                    reason = $"the Hub sent {file.File} from byte {response.Content.Headers.ContentRange?.From} when asked for {have}";
                }
                else
                {
                    // A 200 to a ranged request is the whole file again: start over.
                    if (response.StatusCode != HttpStatusCode.PartialContent) have = 0;
                    received(have);
                    have = await CopyBodyAsync(response, partialPath, append: have > 0, have, received, cancel);
                    if (have == file.Size) return;
                    if (have > file.Size)
                    {
                        File.Delete(partialPath);
                        throw new HubException(HubErrorKind.ChecksumMismatch, $"{Prefix}{file.File} came with more bytes than the {file.Size} the Hub announced; the download was discarded");
                    }
                    reason = $"the body of {file.File} ended after {have} of {file.Size} bytes";
                }
            }
            catch (Exception e) when (IsNetworkFailure(e, cancel)) { reason = Describe(e); }
            if (attempt >= _options.MaxAttempts)
                throw new HubException(HubErrorKind.Network,
                    $"{Prefix}downloading {file.File} failed {attempt} times ({reason}); {LengthOf(partialPath)} of {file.Size} bytes are kept in {partialPath} and the next run resumes from there");
            await WaitBeforeRetryAsync(attempt, reason, cancel);
        }
    }

    async Task<long> CopyBodyAsync(HttpResponseMessage response, string partialPath, bool append, long have, Action<long> received, CancellationToken cancel)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancel);
        FileStream? output = null;
        Write(partialPath, () => output = new FileStream(partialPath, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16));
        using (output)
        {
            var buffer = new byte[1 << 20];
            while (true)
            {
                int n;
                // A stalled body counts as a cut connection: wait at most the timeout for the next bytes.
                using (var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel))
                {
                    stall.CancelAfter(_options.Timeout);
                    n = await body.ReadAsync(buffer, stall.Token);
                }
                if (n == 0) break;
                Write(partialPath, () => output!.Write(buffer, 0, n));
                have += n;
                received(have);
            }
            Write(partialPath, () => output!.Flush(flushToDisk: false));
        }
        return have;
    }

    /// <summary>Does a write into the cache, naming the disk-full and not-writable cases.</summary>
    internal void Write(string path, Action write)
    {
        try { write(); }
        catch (IOException e) when (e is not HubException && IsDiskFull(e))
        { throw new HubException(HubErrorKind.DiskFull, $"{Prefix}no space left on the disk of the Hub cache while writing {path} ({e.Message}); free some space or set HF_HUB_CACHE to a disk that has it", e); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException && e is not HubException)
        { throw new HubException(HubErrorKind.CacheNotWritable, $"{Prefix}cannot write {path} in the Hub cache ({e.Message}); set HF_HUB_CACHE to a folder you can write", e); }
    }

    // ENOSPC on Linux and macOS is errno 28 (.NET puts the errno in HResult); Windows says ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL.
    static bool IsDiskFull(IOException e) => e.HResult == 28 || (e.HResult & 0xFFFF) is 0x70 or 0x27;

    /// <summary>One request, with redirects followed by hand (at most 10 hops); an absolute redirect is returned as it is unless <paramref name="followAbsolute"/>.</summary>
    async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, bool followAbsolute, RangeHeaderValue? range, CancellationToken cancel)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (range is not null) request.Headers.Range = range;
            // The size in Content-Length must be the file's, not a compressed stream's.
            request.Headers.AcceptEncoding.ParseAdd("identity");
            if (_options.Token is { } token && IsEndpointHost(url)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            HttpResponseMessage response;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel))
            {
                timeout.CancelAfter(_options.Timeout);
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            }
            if ((int)response.StatusCode is < 300 or >= 400 || RedirectTarget(response) is not { } target) return response;
            bool absolute = IsAbsoluteRedirect(response);
            if (absolute && !followAbsolute) return response;
            response.Dispose();
            if (hop >= MaxRedirects) throw new HubException(HubErrorKind.InvalidResponse, $"{Prefix}more than {MaxRedirects} redirects from {url}");
            url = target;
        }
    }

    static string? LocationHeader(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Location", out var values) ? values.FirstOrDefault() : null;

    // Read from the raw header: a path like "/a/b" must stay relative, never become a file:// URI.
    static bool IsAbsoluteRedirect(HttpResponseMessage response) =>
        LocationHeader(response) is { } location && (location.StartsWith("//", StringComparison.Ordinal) || HasHttpScheme(location));

    static bool HasHttpScheme(string location) =>
        location.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    static Uri? RedirectTarget(HttpResponseMessage response)
    {
        if (LocationHeader(response) is not { } location) return null;
        var from = response.RequestMessage!.RequestUri!;
        return HasHttpScheme(location) ? new Uri(location) : new Uri(from, location);
    }

    bool IsEndpointHost(Uri url) => Uri.Compare(url, _endpoint, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    Uri ResolveUrl(string revision, string file) =>
        new(_endpoint, $"{(Id.Kind == HubRepoKind.Dataset ? "datasets/" : "")}{Id.Repo}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    HubException ErrorFor(HttpResponseMessage response, string? file, int attempts)
    {
        var code = Header(response, "X-Error-Code");
        var message = Header(response, "X-Error-Message");
        int status = (int)response.StatusCode;
        var detail = $"HTTP {status}" + (code is null ? "" : $" {code}") + (message is null ? "" : $": {message}");
        if (code == "RevisionNotFound")
            return new(HubErrorKind.RevisionNotFound, $"{Prefix}the repository has no revision '{Id.Revision}' (no such branch, tag or commit; {detail})");
        if (code == "EntryNotFound" || (status == 404 && file is not null && code != "RepoNotFound"))
            return new(HubErrorKind.FileNotFound, $"{Prefix}the revision lists {file} but the Hub has no such file ({detail})");
        if (code == "GatedRepo")
            return new(HubErrorKind.AuthenticationRequired, $"{Prefix}the repository is gated: accept its conditions on the Hub, then set HF_TOKEN to an access token of that account ({detail})");
        if (status is 401 or 403)
            return new(HubErrorKind.AuthenticationRequired, _options.Token is null
                ? $"{Prefix}authentication needed ({detail}): the repository is private or gated (or does not exist); set HF_TOKEN to an access token that can read it"
                : $"{Prefix}authentication failed ({detail}): the Hub refused the token in HF_TOKEN for this repository (or the repository does not exist)");
        if (status == 404)
            return new(HubErrorKind.RepositoryNotFound, $"{Prefix}no such repository on {_options.Endpoint} ({detail}); check the name, or set HF_TOKEN if it is private");
        if (IsTransient(response.StatusCode))
            return new(HubErrorKind.Network, $"{Prefix}the Hub at {_options.Endpoint} kept failing ({detail}) after {attempts} attempts");
        return new(HubErrorKind.InvalidResponse, $"{Prefix}unexpected answer from {response.RequestMessage?.RequestUri} ({detail})");
    }

    async Task WaitBeforeRetryAsync(int attempt, string reason, CancellationToken cancel)
    {
        var delay = _options.FirstRetryDelay * Math.Pow(2, attempt - 1);
        _options.Log?.Invoke($"{Prefix}{reason}; retrying in {delay.TotalSeconds:0.###} s (attempt {attempt + 1} of {_options.MaxAttempts})");
        await Task.Delay(delay, cancel);
    }

    static bool IsTransient(HttpStatusCode status) => (int)status >= 500 || status == HttpStatusCode.TooManyRequests;

    // Failures of the connection or of the body, and timeouts; not the caller's cancellation and not our own errors.
    static bool IsNetworkFailure(Exception e, CancellationToken cancel) =>
        e is HttpRequestException || (e is IOException && e is not HubException) || (e is OperationCanceledException && !cancel.IsCancellationRequested);

    // Nothing listens, or the name does not resolve: retrying will not help, and the cache may serve instead.
    static bool IsUnreachable(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };

    static string Describe(Exception e) => e is OperationCanceledException ? "timed out" : e.Message;

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? values.FirstOrDefault() : null;

    /// <summary>An ETag as a file name: without a weak marker and quotes.</summary>
    public static string? NormalizeEtag(string? etag)
    {
        if (etag is null) return null;
        var value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal)) value = value[2..];
        return value.Trim('"');
    }

    static long LengthOf(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    // Files the revision lists become paths under the snapshot: nothing absolute, nothing that climbs out.
    static bool IsSafeRelativePath(string file) =>
        file.Length > 0 && !file.StartsWith('/') && !file.Contains('\\') && !file.Contains(':') && file.Split('/').All(s => s is not ("" or "." or ".."));

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex EtagPattern();
}

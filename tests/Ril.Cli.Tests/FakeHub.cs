using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Ril.Cli.Tests;

/// <summary>
/// A stand-in for the Hugging Face Hub on 127.0.0.1, serving repositories from local folders with the Hub's protocol:
/// the revision API, resolve URLs whose HEAD carries ETag / X-Repo-Commit (and, for LFS files, a 302 to a CDN URL with
/// X-Linked-Etag = sha256 and X-Linked-Size), Range requests, relative redirects for renamed repositories, private
/// repositories behind a bearer token, the Hub's X-Error-Code values. Failures are injected on demand (a status for
/// the next requests, a connection cut mid-body, corrupted content), and every request is logged. Dataset repositories
/// are served the same way under <c>/api/datasets/…</c> and <c>/datasets/…/resolve/…</c>, with files in subfolders and,
/// when added, the converted Parquet branch <c>refs/convert/parquet</c>.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    /// <summary>One request as the server saw it; <see cref="Status"/> is 0 for a connection it cut.</summary>
    public sealed class LoggedRequest(string method, string path, string? range, bool authorized)
    {
        public string Method { get; } = method;
        public string Path { get; } = path;
        public string? Range { get; } = range;
        public bool Authorized { get; } = authorized;
        public int Status { get; set; }
        public override string ToString() => $"{Method} {Path}{(Range is null ? "" : $" [{Range}]")} → {Status}";
    }

    sealed record Repository(string Commit, IReadOnlyDictionary<string, byte[]> Files, string? Token, string Branch = "main");

    static readonly string[] LfsSuffixes = [".safetensors", ".parquet"];
    readonly ConcurrentDictionary<string, Repository> _repositories = new();
    readonly ConcurrentDictionary<string, string> _renamed = new();
    readonly ConcurrentQueue<LoggedRequest> _log = new();
    readonly ConcurrentQueue<(string PathSuffix, int Status)> _failures = new();
    readonly ConcurrentDictionary<string, long> _cuts = new();
    readonly ConcurrentDictionary<string, bool> _corrupted = new();
    readonly WebApplication _app;

    /// <summary>The base URL, what HF_ENDPOINT is set to.</summary>
    public string Url { get; }

    FakeHub(WebApplication app, string url) { _app = app; Url = url; }

    public static async Task<FakeHub> StartAsync()
    {
        FakeHub? hub = null;
        var (app, url) = await LoopbackApp.StartAsync(app => app.Run(context => hub!.HandleAsync(context)));
        hub = new FakeHub(app, url);
        return hub;
    }

    public async Task StopAsync() => await _app.StopAsync();

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>Serves the files of <paramref name="folder"/> (top level) as the repository <paramref name="repo"/> at branch main; a token makes it private.</summary>
    public string AddRepository(string repo, string folder, string? token = null)
    {
        var files = Directory.EnumerateFiles(folder).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal);
        var commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(repo + string.Join(",", files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => f.Key + ":" + GitBlobSha1(f.Value))))));
        _repositories[repo] = new Repository(commit, files, token);
        return commit;
    }

    /// <summary>
    /// Serves the files of <paramref name="folder"/> and its subfolders (paths with '/') as the dataset repository
    /// <paramref name="repo"/> at <paramref name="branch"/> (main, or refs/convert/parquet for the converted branch).
    /// </summary>
    public string AddDatasetRepository(string repo, string folder, string branch = "main")
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'), File.ReadAllBytes, StringComparer.Ordinal);
        var commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes("dataset " + repo + branch + string.Join(",", files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => f.Key + ":" + GitBlobSha1(f.Value))))));
        _repositories[DatasetKey(repo, branch)] = new Repository(commit, files, null, branch);
        return commit;
    }

    // Datasets live beside models under "datasets/Org/Name", a branch other than main under "…@branch".
    static string DatasetKey(string repo, string branch) => branch == "main" ? $"datasets/{repo}" : $"datasets/{repo}@{branch}";

    string DatasetKeyFor(string repo, string revision) =>
        _repositories.ContainsKey(DatasetKey(repo, revision)) ? DatasetKey(repo, revision)
        : _repositories.FirstOrDefault(r => r.Key.StartsWith($"datasets/{repo}", StringComparison.Ordinal) && r.Value.Commit == revision).Key ?? DatasetKey(repo, "main");

    /// <summary>Makes <paramref name="oldRepo"/> redirect (relatively) to <paramref name="newRepo"/>, as the Hub does for a renamed repository.</summary>
    public void Rename(string oldRepo, string newRepo) => _renamed[oldRepo] = newRepo;

    /// <summary>The next <paramref name="times"/> requests whose path ends with <paramref name="pathSuffix"/> get <paramref name="status"/>.</summary>
    public void FailNext(string pathSuffix, int status, int times = 1) { for (int i = 0; i < times; i++) _failures.Enqueue((pathSuffix, status)); }

    /// <summary>The next GET of a body whose path ends with <paramref name="pathSuffix"/> sends <paramref name="afterBytes"/> bytes, then cuts the connection.</summary>
    public void CutNext(string pathSuffix, long afterBytes) => _cuts[pathSuffix] = afterBytes;

    /// <summary>Serves <paramref name="file"/> of <paramref name="repo"/> with one byte flipped (the announced sha256 stays the true one).</summary>
    public void Corrupt(string repo, string file) => _corrupted[$"{repo}/{file}"] = true;

    public IReadOnlyList<LoggedRequest> Requests => _log.ToList();

    public void ClearLog() => _log.Clear();

    async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "";
        var entry = new LoggedRequest(request.Method, path, request.Headers.Range.Count > 0 ? request.Headers.Range.ToString() : null,
            request.Headers.Authorization.Count > 0);
        _log.Enqueue(entry);
        context.Items[nameof(LoggedRequest)] = entry;
        // The status is logged as the response starts, before its body: a client that has read a whole body may look
        // at the log before this handler returns.
        context.Response.OnStarting(() => { entry.Status = context.Response.StatusCode; return Task.CompletedTask; });
        entry.Status = await RespondAsync(context, path);
    }

    async Task<int> RespondAsync(HttpContext context, string path)
    {
        var response = context.Response;
        if (TakeFailure(path) is { } injected) { response.StatusCode = injected; return injected; }
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);

        // The CDN: /cdn/<sha256>, no authentication (the Hub's CDN URLs are signed).
        if (parts is ["cdn", var blobSha])
        {
            foreach (var (servedRepo, served) in _repositories)
                foreach (var (servedFile, servedBytes) in served.Files)
                    if (Sha256(servedBytes) == blobSha)
                        return await SendBodyAsync(context, path, _corrupted.ContainsKey($"{servedRepo}/{servedFile}") ? Flipped(servedBytes) : servedBytes);
            return Error(response, 404, "EntryNotFound");
        }

        // /api/models/<org>/<name>/revision/<revision>
        if (parts is ["api", "models", var apiOrg, var apiName, "revision", .. var apiRevision] && apiRevision.Length > 0)
        {
            var repo = $"{apiOrg}/{apiName}";
            var revision = Uri.UnescapeDataString(string.Join('/', apiRevision));
            if (_renamed.TryGetValue(repo, out var renamed)) return Redirect(response, 307, $"/api/models/{renamed}/revision/{Uri.EscapeDataString(revision)}");
            if (Check(context, repo, revision) is { } failed) return failed;
            var repository = _repositories[repo];
            var siblings = new JsonArray(repository.Files.Keys.Select(f => (JsonNode)new JsonObject { ["rfilename"] = f }).ToArray());
            var json = new JsonObject { ["id"] = repo, ["sha"] = repository.Commit, ["siblings"] = siblings }.ToJsonString();
            response.ContentType = "application/json";
            await response.WriteAsync(json);
            return 200;
        }

        // /api/datasets/<org>/<name>/revision/<revision>
        if (parts is ["api", "datasets", var dataOrg, var dataName, "revision", .. var dataRevision] && dataRevision.Length > 0)
        {
            var revision = Uri.UnescapeDataString(string.Join('/', dataRevision));
            var key = DatasetKeyFor($"{dataOrg}/{dataName}", revision);
            if (Check(context, key, revision) is { } failed) return failed;
            var repository = _repositories[key];
            var siblings = new JsonArray(repository.Files.Keys.Select(f => (JsonNode)new JsonObject { ["rfilename"] = f }).ToArray());
            var json = new JsonObject { ["id"] = $"{dataOrg}/{dataName}", ["sha"] = repository.Commit, ["siblings"] = siblings }.ToJsonString();
            response.ContentType = "application/json";
            await response.WriteAsync(json);
            return 200;
        }

        // /<org>/<name>/resolve/<revision>/<file>, and /datasets/<org>/<name>/resolve/<revision>/<path>
        bool isDataset = parts is ["datasets", _, _, "resolve", _, _, ..];
        if (parts is [_, _, "resolve", _, _] || isDataset)
        {
            string repo, revision, file, key;
            if (isDataset)
            {
                (repo, revision, file) = ($"{parts[1]}/{parts[2]}", Uri.UnescapeDataString(parts[4]), string.Join('/', parts[5..].Select(Uri.UnescapeDataString)));
                key = DatasetKeyFor(repo, revision);
            }
            else
            {
                var (rawRevision, rawFile) = (parts[3], parts[4]);
                (repo, revision, file) = ($"{parts[0]}/{parts[1]}", Uri.UnescapeDataString(rawRevision), Uri.UnescapeDataString(rawFile));
                key = repo;
                if (_renamed.TryGetValue(repo, out var renamed)) return Redirect(response, 307, $"/{renamed}/resolve/{rawRevision}/{rawFile}");
            }
            if (Check(context, key, revision) is { } failed) return failed;
            var repository = _repositories[key];
            if (!repository.Files.TryGetValue(file, out var bytes)) return Error(response, 404, "EntryNotFound");
            response.Headers["X-Repo-Commit"] = repository.Commit;
            if (LfsSuffixes.Any(suffix => file.EndsWith(suffix, StringComparison.Ordinal)))
            {
                var sha = Sha256(bytes);
                response.Headers["X-Linked-Etag"] = $"\"{sha}\"";
                response.Headers["X-Linked-Size"] = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
                response.Headers.ETag = $"\"{GitBlobSha1(Encoding.UTF8.GetBytes($"oid sha256:{sha}"))}\"";
                return Redirect(response, 302, $"{Url}/cdn/{sha}");
            }
            response.Headers.ETag = $"\"{GitBlobSha1(bytes)}\"";
            return await SendBodyAsync(context, path, bytes);
        }
        return Error(response, 404, null);
    }

    // The Hub's checks in its order: the repository, then the token (a private repository looks missing without one), then the revision.
    int? Check(HttpContext context, string repo, string revision)
    {
        if (!_repositories.TryGetValue(repo, out var repository)) return Error(context.Response, 404, "RepoNotFound", "Repository not found");
        if (repository.Token is { } token && context.Request.Headers.Authorization.ToString() != $"Bearer {token}")
            return Error(context.Response, 401, context.Request.Headers.Authorization.Count == 0 ? "RepoNotFound" : null, "Invalid credentials in Authorization header");
        if (revision != repository.Branch && revision != repository.Commit) return Error(context.Response, 404, "RevisionNotFound", $"Invalid rev id: {revision}");
        return null;
    }

    async Task<int> SendBodyAsync(HttpContext context, string path, byte[] bytes)
    {
        var response = context.Response;
        long start = 0;
        int status = 200;
        var range = context.Request.Headers.Range.ToString();
        if (range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= bytes.Length) { response.Headers.ContentRange = $"bytes */{bytes.Length}"; response.StatusCode = 416; return 416; }
            status = 206;
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {start}-{bytes.Length - 1}/{bytes.Length}";
        }
        response.Headers.AcceptRanges = "bytes";
        response.ContentLength = bytes.Length - start;
        if (HttpMethods.IsHead(context.Request.Method)) return status;
        var cut = _cuts.Keys.FirstOrDefault(k => path.EndsWith(k, StringComparison.Ordinal));
        if (cut is not null && _cuts.TryRemove(cut, out var after))
        {
            await response.Body.WriteAsync(bytes.AsMemory((int)start, (int)Math.Min(after, bytes.Length - start)));
            await response.Body.FlushAsync();
            await Task.Delay(200);   // lets the client read what was sent before the reset
            ((LoggedRequest)context.Items[nameof(LoggedRequest)]!).Status = 0;   // logged as cut before the client sees the reset
            context.Abort();
            return 0;
        }
        await response.Body.WriteAsync(bytes.AsMemory((int)start));
        return status;
    }

    int? TakeFailure(string path)
    {
        // Rotates the queue once, taking the first failure that matches.
        int? taken = null;
        for (int n = _failures.Count; n > 0 && _failures.TryDequeue(out var failure); n--)
        {
            if (taken is null && path.EndsWith(failure.PathSuffix, StringComparison.Ordinal)) taken = failure.Status;
            else _failures.Enqueue(failure);
        }
        return taken;
    }

    static int Redirect(HttpResponse response, int status, string location)
    {
        response.StatusCode = status;
        response.Headers.Location = location;
        return status;
    }

    static int Error(HttpResponse response, int status, string? code, string? message = null)
    {
        response.StatusCode = status;
        if (code is not null) response.Headers["X-Error-Code"] = code;
        if (message is not null) response.Headers["X-Error-Message"] = message;
        return status;
    }

    static byte[] Flipped(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        copy[copy.Length / 2] ^= 0xFF;
        return copy;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    // The id git gives a file's content, which the Hub sends as the ETag of a file kept in git (not in LFS).
    static string GitBlobSha1(byte[] bytes) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"), .. bytes]));
}

using System.Security.Cryptography;

namespace Ril.Hub;

/// <summary>
/// The one way a model argument becomes a local folder: an existing directory as it is, or a Hub id <c>Org/Name[@revision]</c>
/// from the huggingface_hub cache, downloading what is missing into it (unless offline), as transformers'
/// <c>from_pretrained</c> does.
/// </summary>
public static class ModelLocation
{
    /// <summary>What the CLI's help says a model argument may be.</summary>
    public const string ArgumentDescription = "a model directory or a Hub id Org/Name[@revision]";

    /// <summary>
    /// A local folder for <paramref name="dirOrHubId"/>: the directory (or file) itself when it exists, else the snapshot of
    /// the Hub id's revision in the cache. Options default to <see cref="HubOptions.FromEnvironment()"/>.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">Neither an existing path nor a Hub id.</exception>
    /// <exception cref="HubException">The Hub id could not be resolved; the message says why and names the repository and revision.</exception>
    public static string Resolve(string dirOrHubId, HubOptions? options = null) =>
        // On the thread pool, so that a caller's synchronization context cannot deadlock the wait.
        Task.Run(() => ResolveAsync(dirOrHubId, options)).GetAwaiter().GetResult();

    /// <inheritdoc cref="Resolve"/>
    public static async Task<string> ResolveAsync(string dirOrHubId, HubOptions? options = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(dirOrHubId);
        if (Directory.Exists(dirOrHubId) || File.Exists(dirOrHubId)) return dirOrHubId;
        if (!HubModelId.TryParse(dirOrHubId, out var id))
            throw new DirectoryNotFoundException($"'{dirOrHubId}': no such model directory, and not a Hub id either (Org/Name or Org/Name@revision)");
        try { return await SnapshotAsync(id, options ?? HubOptions.FromEnvironment(), cancel); }
        catch (HubException e) when (e.Kind is HubErrorKind.RepositoryNotFound or HubErrorKind.NotCached)
        {
            throw new HubException(e.Kind, $"{e.Message} (and there is no local directory '{dirOrHubId}')", e.InnerException);
        }
    }

    /// <summary>The snapshot folder of <paramref name="id"/> in the cache, with every file a model needs downloaded.</summary>
    public static async Task<string> SnapshotAsync(HubModelId id, HubOptions options, CancellationToken cancel = default)
    {
        var cache = new HubRepoCache(options.CacheDirectory, id);
        if (options.Offline)
            return CachedSnapshot(cache) ?? throw new HubException(HubErrorKind.NotCached,
                $"Hub model {id}: offline (HF_HUB_OFFLINE is set) and not in the cache: {cache.Folder} holds no complete snapshot of this revision; unset HF_HUB_OFFLINE to download it");

        using var client = new HubClient(id, options);
        HubRevision revision;
        try { revision = await client.RevisionAsync(cancel); }
        catch (HubException e) when (e.Kind == HubErrorKind.Network)
        {
            // As huggingface_hub does: an unreachable Hub is no error when the cache has the revision.
            if (CachedSnapshot(cache) is { } cached)
            {
                options.Log?.Invoke($"{e.Message}; using the cached snapshot {cached}");
                return cached;
            }
            throw new HubException(HubErrorKind.Network, $"{e.Message}, and the cache at {cache.Folder} holds no snapshot of it", e);
        }

        var wanted = HubModelFiles.Select(revision.Files);
        if (!wanted.Contains("config.json"))
            throw new HubException(HubErrorKind.FileNotFound, $"Hub model {id}: commit {revision.Commit} has no config.json, so it is not a model repository");
        var missing = wanted.Where(f => !cache.HasFile(revision.Commit, f)).ToList();
        for (int i = 0; i < missing.Count; i++)
            await FetchFileAsync(client, cache, revision.Commit, missing[i], i + 1, missing.Count, options, cancel);
        client.Write(cache.Folder, () => cache.WriteRef(revision.Commit));
        return cache.SnapshotFolder(revision.Commit);
    }

    static string? CachedSnapshot(HubRepoCache cache) =>
        cache.CachedCommit() is { } commit && cache.HasModel(commit) ? cache.SnapshotFolder(commit) : null;

    // Downloads the file's blob unless another snapshot (or another process, under the lock) already has it, then links it.
    internal static async Task FetchFileAsync(HubClient client, HubRepoCache cache, string commit, string file, int number, int count, HubOptions options, CancellationToken cancel)
    {
        var metadata = await client.MetadataAsync(commit, file, cancel);
        var blob = cache.BlobPath(metadata.Etag);
        if (!File.Exists(blob))
        {
            IDisposable? blobLock = null;
            client.Write(cache.LockPath(metadata.Etag), () => blobLock = cache.LockBlob(metadata.Etag, cancel));
            using (blobLock)
            {
                if (!File.Exists(blob))
                {
                    var partial = cache.IncompletePath(metadata.Etag);
                    client.Write(partial, () => Directory.CreateDirectory(Path.GetDirectoryName(partial)!));
                    void Report(long received, bool completed) =>
                        options.Progress?.Report(new HubDownloadProgress(client.Id, file, number, count, received, metadata.Size, completed));
                    await client.DownloadAsync(metadata, partial, received => Report(received, false), cancel);
                    if (metadata.IsLfs) await CheckSha256Async(client.Id, metadata, partial, cancel);
                    client.Write(blob, () => File.Move(partial, blob, overwrite: true));
                    Report(metadata.Size, true);
                }
            }
        }
        client.Write(Path.Combine(cache.SnapshotFolder(commit), file), () => cache.Link(commit, file, metadata.Etag));
    }

    // An LFS file's etag is the sha256 of its content: a blob that does not hash to it is discarded, never renamed into place.
    static async Task CheckSha256Async(HubModelId id, HubFileMetadata metadata, string partial, CancellationToken cancel)
    {
        if (metadata.Etag.Length != 64) return;
        string actual;
        await using (var stream = File.OpenRead(partial)) actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
        if (string.Equals(actual, metadata.Etag, StringComparison.OrdinalIgnoreCase)) return;
        File.Delete(partial);
        throw new HubException(HubErrorKind.ChecksumMismatch,
            $"Hub {id.KindName} {id}: checksum mismatch for {metadata.File}: its sha256 is {actual} but the Hub announced {metadata.Etag}; the download was discarded, run again to fetch it anew");
    }
}

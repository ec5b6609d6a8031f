using System.Text.Json;

namespace Ril.Hub;

/// <summary>
/// One repository's folder in the huggingface_hub cache, laid out as huggingface_hub lays it out so that both read
/// each other's downloads: <c>refs/&lt;revision&gt;</c> holds a commit hash, <c>snapshots/&lt;commit&gt;/&lt;path&gt;</c>
/// are relative symbolic links into <c>blobs/&lt;etag&gt;</c>, and <c>blobs/&lt;etag&gt;.incomplete</c> is a download
/// under way. Locks live in <c>.locks/models--Org--Name/&lt;etag&gt;.lock</c> beside the repositories.
/// </summary>
public sealed class HubRepoCache(string cacheDirectory, HubModelId id)
{
    public HubModelId Id { get; } = id;
    public string Folder { get; } = Path.Combine(Path.GetFullPath(cacheDirectory), id.CacheFolderName);
    string LocksFolder { get; } = Path.Combine(Path.GetFullPath(cacheDirectory), ".locks", id.CacheFolderName);

    public string SnapshotFolder(string commit) => Path.Combine(Folder, "snapshots", commit);
    public string BlobPath(string etag) => Path.Combine(Folder, "blobs", etag);
    public string IncompletePath(string etag) => BlobPath(etag) + ".incomplete";
    public string LockPath(string etag) => Path.Combine(LocksFolder, etag + ".lock");
    string RefPath(string revision) => Path.Combine(Folder, "refs", revision.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>The commit a revision was last seen at: the revision itself for a commit hash, else refs/&lt;revision&gt;; null when unknown.</summary>
    public string? CachedCommit()
    {
        if (Id.RevisionIsCommit) return Id.Revision;
        var path = RefPath(Id.Revision);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    /// <summary>Records that the revision is at <paramref name="commit"/> (atomically; untouched when it already says so).</summary>
    public void WriteRef(string commit)
    {
        if (Id.RevisionIsCommit && Id.Revision == commit) return;
        var path = RefPath(Id.Revision);
        if (File.Exists(path) && File.ReadAllText(path).Trim() == commit) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, commit);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Whether the snapshot of <paramref name="commit"/> has <paramref name="file"/> (its link leads to a blob).</summary>
    public bool HasFile(string commit, string file) => LeadsToFile(Path.Combine(SnapshotFolder(commit), file));

    // A link counts only when what it points at is there: a blob deleted by hand leaves a dangling link.
    static bool LeadsToFile(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null) return info.Exists;
        return info.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true };
    }

    /// <summary>
    /// Points snapshots/&lt;commit&gt;/&lt;file&gt; at blobs/&lt;etag&gt; with a relative link, replacing whatever was there in one
    /// rename; where links cannot be made (Windows without the privilege) the blob is copied instead.
    /// </summary>
    public void Link(string commit, string file, string etag)
    {
        var link = Path.Combine(SnapshotFolder(commit), file);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        var blob = BlobPath(etag);
        var temporary = $"{link}.{Environment.ProcessId}.link";
        File.Delete(temporary);
        try { File.CreateSymbolicLink(temporary, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { File.Copy(blob, temporary, overwrite: true); }
        File.Move(temporary, link, overwrite: true);
    }

    /// <summary>
    /// Whether the snapshot of <paramref name="commit"/> holds a loadable model: config.json and the weights (every
    /// shard its safetensors index names, or at least one .safetensors file).
    /// </summary>
    public bool HasModel(string commit)
    {
        var folder = SnapshotFolder(commit);
        if (!LeadsToFile(Path.Combine(folder, "config.json"))) return false;
        var index = Path.Combine(folder, "model.safetensors.index.json");
        if (File.Exists(index)) return ShardsOf(index).All(shard => LeadsToFile(Path.Combine(folder, shard)));
        return Directory.EnumerateFiles(folder, "*.safetensors").Any(LeadsToFile);
    }

    static IEnumerable<string> ShardsOf(string indexPath)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(indexPath));
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object) return [];
            return map.EnumerateObject().Select(p => p.Value.GetString() ?? "").Distinct().ToList();
        }
        catch (JsonException) { return ["(unreadable model.safetensors.index.json)"]; }
    }

    /// <summary>
    /// Holds the lock on one blob across processes (ranks of a distributed run resolve the same id at once) until
    /// disposed; waits for another holder to finish.
    /// </summary>
    public IDisposable LockBlob(string etag, CancellationToken cancel)
    {
        var path = LockPath(etag);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            // Held by another process: wait. Anything else (a read-only disk) leaves no lock file and is thrown.
            catch (IOException) when (!cancel.IsCancellationRequested && File.Exists(path)) { Thread.Sleep(100); }
        }
    }
}

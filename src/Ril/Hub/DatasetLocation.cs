namespace Ril.Hub;

/// <summary>
/// The one way a Hub dataset split becomes local Parquet files: from the huggingface_hub cache
/// (<c>datasets--Org--Name</c>), downloading what is missing (unless offline), first from the revision asked for and,
/// when it holds no Parquet files for the split (a dataset kept as JSON or CSV), from the Hub's converted Parquet branch.
/// </summary>
public static class DatasetLocation
{
    /// <summary>The local Parquet files of <paramref name="id"/>'s split, in order.</summary>
    /// <exception cref="HubException">The split could not be found or fetched; the message names the dataset and says why.</exception>
    public static IReadOnlyList<string> Resolve(HubDatasetId id, HubOptions? options = null) =>
        Task.Run(() => ResolveAsync(id, options ?? HubOptions.FromEnvironment())).GetAwaiter().GetResult();

    public static async Task<IReadOnlyList<string>> ResolveAsync(HubDatasetId id, HubOptions options, CancellationToken cancel = default)
    {
        var revisions = id.Revision == HubModelId.DefaultRevision ? [id.Revision, HubDatasetFiles.ConvertedParquetRevision] : new[] { id.Revision };
        var seen = new List<string>();
        foreach (var revision in revisions)
        {
            var repository = id.RepositoryAt(revision);
            var cache = new HubRepoCache(options.CacheDirectory, repository);
            if (options.Offline)
            {
                if (Cached(cache, id) is { } cached) return cached;
                continue;
            }
            using var client = new HubClient(repository, options);
            HubRevision listing;
            try { listing = await client.RevisionAsync(cancel); }
            catch (HubException e) when (e.Kind == HubErrorKind.Network)
            {
                if (Cached(cache, id) is { } cached)
                {
                    options.Log?.Invoke($"{e.Message}; using the cached files of {id}");
                    return cached;
                }
                throw new HubException(HubErrorKind.Network, $"{e.Message}, and the cache at {cache.Folder} holds no files of {id}", e);
            }
            catch (HubException e) when (e.Kind == HubErrorKind.RevisionNotFound && revision == HubDatasetFiles.ConvertedParquetRevision) { continue; }

            var files = HubDatasetFiles.Select(listing.Files, id.Config, id.Split);
            if (files.Count == 0) { seen.AddRange(listing.Files.Select(f => $"{f} ({revision})")); continue; }
            if (id.Config is null && HubDatasetFiles.TopFolders(files) is { Count: > 1 } configs)
                throw new HubException(HubErrorKind.FileNotFound,
                    $"Hub dataset {id}: the split '{id.Split}' is in several configs ({string.Join(", ", configs.Select(c => c == "" ? "(root)" : c))}); name one as {id.Repo}:CONFIG@{id.Split}");
            var missing = files.Where(f => !cache.HasFile(listing.Commit, f)).ToList();
            for (int i = 0; i < missing.Count; i++)
                await ModelLocation.FetchFileAsync(client, cache, listing.Commit, missing[i], i + 1, missing.Count, options, cancel);
            client.Write(cache.Folder, () => cache.WriteRef(listing.Commit));
            return files.Select(f => Path.Combine(cache.SnapshotFolder(listing.Commit), f)).ToList();
        }
        if (options.Offline)
            throw new HubException(HubErrorKind.NotCached,
                $"Hub dataset {id}: offline (HF_HUB_OFFLINE is set) and not in the cache: {new HubRepoCache(options.CacheDirectory, id.Repository).Folder} holds no files of this split; unset HF_HUB_OFFLINE to download it");
        throw new HubException(HubErrorKind.FileNotFound,
            $"Hub dataset {id}: no Parquet files of split '{id.Split}'{(id.Config is null ? "" : $" of config '{id.Config}'")} in {string.Join(" or ", revisions)}" +
            $" (files: {(seen.Count == 0 ? "none" : string.Join(", ", seen.Take(20)))}); name the split with @split and the config with :config");
    }

    // The split's files in the snapshot the revision was last seen at, when every one is there.
    static IReadOnlyList<string>? Cached(HubRepoCache cache, HubDatasetId id)
    {
        if (cache.CachedCommit() is not { } commit) return null;
        var folder = cache.SnapshotFolder(commit);
        if (!Directory.Exists(folder)) return null;
        var present = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/')).Where(f => cache.HasFile(commit, f));
        var files = HubDatasetFiles.Select(present, id.Config, id.Split);
        return files.Count == 0 ? null : files.Select(f => Path.Combine(folder, f)).ToList();
    }
}

using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using Ril.Data.Images;
using Ril.Rewards;

namespace Ril.Data.Teachers;

/// <summary>A teacher model behind an OpenAI-compatible endpoint, under the name its responses are cached as.</summary>
public sealed record HttpTeacher(string Name, EndpointOptions Endpoint)
{
    /// <summary>
    /// Reads <c>NAME=URL,MODEL</c> or <c>NAME=URL,MODEL,API_KEY_VARIABLE</c>; everything else (sampling,
    /// concurrency, retries) comes from <paramref name="defaults"/>.
    /// </summary>
    public static HttpTeacher Parse(string spec, EndpointOptions defaults)
    {
        int equals = spec.IndexOf('=');
        var parts = equals < 0 ? [] : spec[(equals + 1)..].Split(',', StringSplitOptions.TrimEntries);
        if (equals <= 0 || parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
            throw new ArgumentException($"teacher '{spec}': expected NAME=URL,MODEL or NAME=URL,MODEL,API_KEY_VARIABLE");
        var name = spec[..equals].Trim();
        if (name.Any(c => char.IsWhiteSpace(c) || c == ',')) throw new ArgumentException($"teacher '{spec}': the name must not contain spaces or commas");
        if (!Uri.TryCreate(parts[0], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new ArgumentException($"teacher '{name}': '{parts[0]}' is not an http(s) URL");
        var endpoint = defaults with { BaseUrl = url, Model = parts[1], ApiKeyVariable = parts.Length == 3 ? parts[2] : defaults.ApiKeyVariable };
        endpoint.Validate();
        return new(name, endpoint);
    }
}

/// <summary>A collection that stopped because too many of its requests failed; the message is one line with the share.</summary>
public sealed class TeacherCollectionStoppedException(string message) : Exception(message);

/// <summary>What a collection run did. <see cref="Missing"/> is what a rerun would still ask for.</summary>
public sealed record TeacherCollectionReport(
    int Questions, int Teachers, int PerTeacher, int AlreadyCached, int Requested, int Collected, int Failed, long RepairedBytes,
    IReadOnlyList<string> Errors, IReadOnlyDictionary<string, EndpointStatisticsSnapshot> Endpoints)
{
    public int Missing => Failed;
}

/// <summary>
/// Collects RIL's teacher responses over HTTP (docs/spec/RIL.md stage 2: N responses per question from each
/// teacher, cached for reuse): every question goes to every teacher N times, one request a response, with
/// the question's image sent as a base64 data URL. Each response is appended to the teacher cache the
/// moment it arrives, so an interrupted run loses nothing, and a rerun asks only for what the cache lacks
/// (per question and teacher, N minus what is there). Endpoint failures are retried by
/// <see cref="EndpointClient"/>; what still fails is counted and left for the next run, never written. When more than
/// <paramref name="maxFailureShare"/> of the finished requests have failed, the run stops (docs/spec/BOUNDS.md "Teacher
/// collection"): a mostly-failing endpoint is reported at once instead of leaving a mostly-empty cache.
/// </summary>
public sealed class HttpTeacherCollector(IReadOnlyList<HttpTeacher> teachers, string? instruction = null, double maxFailureShare = HttpTeacherCollector.DefaultMaxFailureShare)
{
    /// <summary>The share of failed requests a run tolerates by default.</summary>
    public const double DefaultMaxFailureShare = 0.25;

    /// <summary>Requests that finish before the share is judged (all of them in a smaller run): a first failure alone stops nothing.</summary>
    public const int FinishedBeforeJudging = 20;

    /// <summary>MAYE's instruction, in our words: solve, show the work in the question's LaTeX style, box the final answer (docs/spec/MAYE.md "Data format").</summary>
    public const string DefaultInstruction =
        "Solve the problem step by step, writing mathematics in LaTeX in the same style as the question, " +
        "and put the final answer in \\boxed{}.";

    public string Instruction { get; } = instruction ?? DefaultInstruction;

    /// <summary>Errors quoted in the report (the counts cover all).</summary>
    const int ErrorsKept = 20;

    public async Task<TeacherCollectionReport> CollectAsync(IReadOnlyList<DatasetRow> rows, int perTeacher, string cachePath,
                                                            Action<string>? progress = null, CancellationToken cancellation = default)
    {
        if (perTeacher < 1) throw new ArgumentException($"responses per teacher must be at least 1 (got {perTeacher})");
        if (!(maxFailureShare is >= 0 and <= 1)) throw new ArgumentException($"--max-failures must be a share in [0, 1] (got {maxFailureShare})");
        if (teachers.Count == 0) throw new ArgumentException("no teacher given");
        var duplicate = teachers.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null) throw new ArgumentException($"teacher name '{duplicate.Key}' is given twice");

        long repaired = JsonlAppender.RepairTornLastLine(cachePath);
        var existing = File.Exists(cachePath) ? TeacherCache.Load(cachePath) : new TeacherCache();
        var work = teachers.Select(teacher => (teacher, items: rows
            .SelectMany(row => MissingSamples(existing.Get(row.Id, teacher.Name), perTeacher).Select(sample => (row, sample)))
            .ToList())).ToList();
        int alreadyCached = rows.Sum(row => teachers.Sum(t => Math.Min(perTeacher, existing.Get(row.Id, t.Name).Count)));
        int requested = work.Sum(w => w.items.Count);
        progress?.Invoke($"{rows.Count} questions × {teachers.Count} teachers × {perTeacher}: {alreadyCached} cached, {requested} to ask" +
                         (repaired > 0 ? $" (cut a torn last line of {repaired} bytes from {cachePath})" : ""));

        int collected = 0, failed = 0, done = 0;
        var errors = new ConcurrentQueue<string>();
        var endpoints = new Dictionary<string, EndpointStatisticsSnapshot>();
        var failedBy = teachers.ToDictionary(t => t.Name, _ => 0);
        using var appender = new JsonlAppender(cachePath);
        var clients = teachers.ToDictionary(t => t.Name, t => new EndpointClient(t.Endpoint));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        string? stoppedBecause = null;
        try
        {
            await Task.WhenAll(work.Select(w => Parallel.ForEachAsync(w.items,
                new ParallelOptions { MaxDegreeOfParallelism = w.teacher.Endpoint.MaxConcurrency, CancellationToken = stop.Token },
                async (item, token) =>
                {
                    var reply = await clients[w.teacher.Name].CompleteAsync(Messages(item.row, Instruction), token).ConfigureAwait(false);
                    if (reply.Succeeded)
                    {
                        var extra = new JsonObject
                        {
                            ["model"] = w.teacher.Endpoint.Model,
                            ["sample"] = item.sample,
                            ["finish_reason"] = reply.FinishReason,
                            ["latency_ms"] = (long)reply.Latency.TotalMilliseconds,
                            ["attempts"] = reply.Attempts,
                        };
                        appender.Append(TeacherCache.ToJsonLine(new TeacherResponse(item.row.Id, w.teacher.Name, reply.Text!, extra)));
                        Interlocked.Increment(ref collected);
                    }
                    else
                    {
                        Interlocked.Increment(ref failed);
                        lock (failedBy) failedBy[w.teacher.Name]++;
                        if (errors.Count < ErrorsKept) errors.Enqueue($"{w.teacher.Name} on {item.row.Id} ({item.row.Location}): {reply.Error}");
                    }
                    int finished = Interlocked.Increment(ref done), failures = Volatile.Read(ref failed);
                    if (progress != null && (finished % 100 == 0 || finished == requested))
                        progress($"{finished}/{requested} asked, {Volatile.Read(ref collected)} collected, {failures} failed");
                    // docs/spec/BOUNDS.md "Teacher collection": stop once failed > s · finished, judged from min(20, requests) on.
                    if (finished >= Math.Min(FinishedBeforeJudging, requested) && failures > maxFailureShare * finished && stoppedBecause is null)
                    {
                        lock (failedBy)
                            stoppedBecause ??= $"{failures} of {finished} teacher requests failed ({100.0 * failures / finished:F0} %), more than the " +
                                $"{100 * maxFailureShare:F0} % allowed (--max-failures); failed by teacher: " +
                                string.Join(", ", failedBy.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key} {kv.Value}")) +
                                (errors.TryPeek(out var first) ? $"; first error: {first.ReplaceLineEndings(" ")}" : "");
                        stop.Cancel();
                    }
                }))).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppedBecause is not null && !cancellation.IsCancellationRequested) { }
        finally
        {
            foreach (var (name, client) in clients)
            {
                endpoints[name] = client.Statistics.Snapshot();
                client.Dispose();
            }
        }
        if (stoppedBecause is not null)
            throw new TeacherCollectionStoppedException($"stopped: {stoppedBecause}. The {collected} responses that arrived are in {cachePath}; " +
                "when the endpoints answer again, rerun the same command to ask for the rest");
        return new(rows.Count, teachers.Count, perTeacher, alreadyCached, requested, collected, failed, repaired, errors.ToList(), endpoints);
    }

    /// <summary>
    /// The sample indices to ask for so that a question and teacher have <paramref name="perTeacher"/> responses: the
    /// smallest indices no cached response holds, as many as are missing. A rerun after a failed sample 1 of 0..2 asks for 1,
    /// never for an index the cache has (responses without an index, from other tools, count but hold none).
    /// </summary>
    static IEnumerable<int> MissingSamples(IReadOnlyList<TeacherResponse> cached, int perTeacher)
    {
        var taken = cached.Select(r => r.Extra["sample"] is JsonValue v && v.TryGetValue(out int i) ? i : -1).Where(i => i >= 0).ToHashSet();
        return Enumerable.Range(0, int.MaxValue).Where(i => !taken.Contains(i)).Take(Math.Max(0, perTeacher - cached.Count));
    }

    /// <summary>The request for one response: the images (if any) as data URLs, in order, then the question and the instruction.</summary>
    public static IReadOnlyList<ChatMessage> Messages(DatasetRow row, string instruction)
    {
        var question = row.Question.Replace("<image>", "", StringComparison.Ordinal).Trim();
        var text = ChatMessageContentPart.CreateTextPart($"{question}\n\n{instruction}");
        if (!row.HasImage) return [new UserChatMessage(text)];
        var parts = Enumerable.Range(0, row.Images.Count).Select(i => ImageForUpload(row, i))
            .Select(image => ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(image.Bytes), image.MediaType)).ToList();
        return [new UserChatMessage([.. parts, text])];
    }

    /// <summary>PNG and JPEG files go as they are; other formats Ril reads (PNM) are re-encoded as PNG, which every endpoint accepts.</summary>
    static (byte[] Bytes, string MediaType) ImageForUpload(DatasetRow row, int index)
    {
        var data = row.ImageBytesAt(index);
        if (PngDecoder.HasSignature(data)) return (data, "image/png");
        if (Jpeg.HasSignature(data)) return (data, "image/jpeg");
        try { return (PngEncoder.Encode(ImageFile.Decode(data, Path.GetExtension(row.Images[index].Path))), "image/png"); }
        catch (ImageFormatException e) { throw row.Error(row.ImageColumn, e.Message, e); }
    }
}

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
/// <see cref="EndpointClient"/>; what still fails is counted and left for the next run, never written.
/// </summary>
public sealed class HttpTeacherCollector(IReadOnlyList<HttpTeacher> teachers, string? instruction = null)
{
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
        if (teachers.Count == 0) throw new ArgumentException("no teacher given");
        var duplicate = teachers.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null) throw new ArgumentException($"teacher name '{duplicate.Key}' is given twice");

        long repaired = JsonlAppender.RepairTornLastLine(cachePath);
        var existing = File.Exists(cachePath) ? TeacherCache.Load(cachePath) : new TeacherCache();
        var work = teachers.Select(teacher => (teacher, items: rows
            .SelectMany(row => Enumerable.Range(existing.Get(row.Id, teacher.Name).Count, Math.Max(0, perTeacher - existing.Get(row.Id, teacher.Name).Count))
            .Select(sample => (row, sample)))
            .ToList())).ToList();
        int alreadyCached = rows.Sum(row => teachers.Sum(t => Math.Min(perTeacher, existing.Get(row.Id, t.Name).Count)));
        int requested = work.Sum(w => w.items.Count);
        progress?.Invoke($"{rows.Count} questions × {teachers.Count} teachers × {perTeacher}: {alreadyCached} cached, {requested} to ask" +
                         (repaired > 0 ? $" (cut a torn last line of {repaired} bytes from {cachePath})" : ""));

        int collected = 0, failed = 0, done = 0;
        var errors = new ConcurrentQueue<string>();
        var endpoints = new Dictionary<string, EndpointStatisticsSnapshot>();
        using var appender = new JsonlAppender(cachePath);
        var clients = teachers.ToDictionary(t => t.Name, t => new EndpointClient(t.Endpoint));
        try
        {
            await Task.WhenAll(work.Select(w => Parallel.ForEachAsync(w.items,
                new ParallelOptions { MaxDegreeOfParallelism = w.teacher.Endpoint.MaxConcurrency, CancellationToken = cancellation },
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
                        if (errors.Count < ErrorsKept) errors.Enqueue($"{w.teacher.Name} on {item.row.Id} ({item.row.Location}): {reply.Error}");
                    }
                    int finished = Interlocked.Increment(ref done);
                    if (progress != null && (finished % 100 == 0 || finished == requested))
                        progress($"{finished}/{requested} asked, {Volatile.Read(ref collected)} collected, {Volatile.Read(ref failed)} failed");
                }))).ConfigureAwait(false);
        }
        finally
        {
            foreach (var (name, client) in clients)
            {
                endpoints[name] = client.Statistics.Snapshot();
                client.Dispose();
            }
        }
        return new(rows.Count, teachers.Count, perTeacher, alreadyCached, requested, collected, failed, repaired, errors.ToList(), endpoints);
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

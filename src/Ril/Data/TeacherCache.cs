using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ril.Data;

/// <summary>One cached teacher response; <see cref="Extra"/> keeps any other fields of its line (correct, model, latency, …).</summary>
public sealed record TeacherResponse(string Id, string Teacher, string Response, JsonObject Extra);

/// <summary>How the G teacher slots of a group are filled (docs/spec/RIL.md, "Multiple teachers").</summary>
public enum TeacherSampling
{
    /// <summary>Evenly across teachers: whole rounds over a shuffled teacher order, the remainder to teachers drawn at random. The default.</summary>
    RoundRobin,
    /// <summary>A fixed number of responses from each teacher (the quotas must add up to G).</summary>
    FixedQuota,
    /// <summary>Uniformly over all cached responses of the question, whatever their teacher.</summary>
    Uniform,
}

/// <summary>
/// Teacher responses collected once and reused through RIL (docs/spec/RIL.md, stage 2): JSONL lines of
/// <c>{"id", "teacher", "response", …}</c>, looked up by question id and teacher. Within a teacher,
/// responses are drawn without replacement until that teacher's responses run out, then again.
/// </summary>
public sealed class TeacherCache
{
    readonly Dictionary<string, Dictionary<string, List<TeacherResponse>>> _byQuestion = new(StringComparer.Ordinal);
    readonly SortedSet<string> _teachers = new(StringComparer.Ordinal);

    public int Count { get; private set; }
    public IReadOnlyCollection<string> Teachers => _teachers;
    public IEnumerable<string> QuestionIds => _byQuestion.Keys;

    public void Add(TeacherResponse response)
    {
        if (!_byQuestion.TryGetValue(response.Id, out var byTeacher)) _byQuestion[response.Id] = byTeacher = new(StringComparer.Ordinal);
        if (!byTeacher.TryGetValue(response.Teacher, out var list)) byTeacher[response.Teacher] = list = [];
        list.Add(response);
        _teachers.Add(response.Teacher);
        Count++;
    }

    /// <summary>
    /// The responses of the named teachers only (this cache when <paramref name="teachers"/> is null); a name the cache
    /// does not have is an error that lists the ones it has.
    /// </summary>
    public TeacherCache Only(IReadOnlyCollection<string>? teachers)
    {
        if (teachers is null) return this;
        var unknown = teachers.Where(t => !_teachers.Contains(t)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"the teacher cache has no teacher {string.Join(", ", unknown.Select(t => $"'{t}'"))} (it has: {string.Join(", ", _teachers)})");
        var kept = new TeacherCache();
        foreach (var id in QuestionIds)
            foreach (var t in teachers.Order(StringComparer.Ordinal))
                foreach (var r in Get(id, t)) kept.Add(r);
        return kept;
    }

    /// <summary>All responses of <paramref name="teacher"/> to question <paramref name="id"/> (empty when none).</summary>
    public IReadOnlyList<TeacherResponse> Get(string id, string teacher) =>
        _byQuestion.TryGetValue(id, out var byTeacher) && byTeacher.TryGetValue(teacher, out var list) ? list : [];

    /// <summary>Every response to question <paramref name="id"/>, teachers in name order.</summary>
    public IReadOnlyList<TeacherResponse> Get(string id) =>
        _byQuestion.TryGetValue(id, out var byTeacher) ? byTeacher.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value).ToList() : [];

    public IReadOnlyList<string> TeachersOf(string id) =>
        _byQuestion.TryGetValue(id, out var byTeacher) ? byTeacher.Keys.Order(StringComparer.Ordinal).ToList() : [];

    /// <summary>
    /// <paramref name="count"/> responses to question <paramref name="id"/> by <paramref name="policy"/>.
    /// <paramref name="quota"/> (teacher → count) is required for <see cref="TeacherSampling.FixedQuota"/>.
    /// </summary>
    public IReadOnlyList<TeacherResponse> Sample(string id, int count, TeacherSampling policy, Random random,
                                                 IReadOnlyDictionary<string, int>? quota = null)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (!_byQuestion.TryGetValue(id, out var byTeacher) || byTeacher.Count == 0)
            throw new KeyNotFoundException($"the teacher cache has no response for question '{id}'");
        if (count == 0) return [];
        var teachers = byTeacher.Keys.Order(StringComparer.Ordinal).ToList();

        Dictionary<string, int> perTeacher;
        switch (policy)
        {
            case TeacherSampling.RoundRobin:
            {
                var order = Shuffled(teachers, random);
                perTeacher = order.ToDictionary(t => t, _ => count / order.Count);
                foreach (var t in Shuffled(order, random).Take(count % order.Count)) perTeacher[t]++;
                // Present responses in slot order: round after round over the shuffled order.
                var slots = new List<TeacherResponse>(count);
                var draws = order.ToDictionary(t => t, t => new Draw(byTeacher[t], random));
                var left = new Dictionary<string, int>(perTeacher);
                while (slots.Count < count)
                    foreach (var t in order)
                        if (left[t] > 0) { slots.Add(draws[t].Next()); left[t]--; }
                return slots;
            }
            case TeacherSampling.FixedQuota:
            {
                if (quota == null) throw new ArgumentException("the fixed-quota policy needs a quota per teacher");
                int total = quota.Values.Sum();
                if (total != count) throw new ArgumentException($"the quotas add up to {total}, but {count} responses were asked for");
                var result = new List<TeacherResponse>(count);
                foreach (var (teacher, n) in quota.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (n < 0) throw new ArgumentException($"negative quota for teacher '{teacher}'");
                    if (n == 0) continue;
                    if (!byTeacher.TryGetValue(teacher, out var list))
                        throw new KeyNotFoundException($"the teacher cache has no response from '{teacher}' for question '{id}' (it has: {string.Join(", ", teachers)})");
                    var draw = new Draw(list, random);
                    for (int i = 0; i < n; i++) result.Add(draw.Next());
                }
                return result;
            }
            default:
            {
                var all = teachers.SelectMany(t => byTeacher[t]).ToList();
                var draw = new Draw(all, random);
                return Enumerable.Range(0, count).Select(_ => draw.Next()).ToList();
            }
        }
    }

    static List<T> Shuffled<T>(IReadOnlyList<T> items, Random random)
    {
        var list = items.ToList();
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }

    /// <summary>Draws without replacement, reshuffling when the pool is used up, so repeats happen only when they must.</summary>
    sealed class Draw(IReadOnlyList<TeacherResponse> pool, Random random)
    {
        List<TeacherResponse> _remaining = [];

        public TeacherResponse Next()
        {
            if (_remaining.Count == 0) _remaining = Shuffled(pool, random);
            var next = _remaining[^1];
            _remaining.RemoveAt(_remaining.Count - 1);
            return next;
        }
    }

    public static TeacherCache Load(string path)
    {
        var cache = new TeacherCache();
        if (!File.Exists(path)) throw new FileNotFoundException($"teacher cache not found: {path}", path);
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            cache.Add(Parse(line, path, lineNumber));
        }
        return cache;
    }

    static TeacherResponse Parse(string line, string path, int lineNumber)
    {
        JsonObject obj;
        try { obj = JsonNode.Parse(line) as JsonObject ?? throw new DataFormatException(path, lineNumber, null, "expected a JSON object"); }
        catch (JsonException e) { throw new DataFormatException(path, lineNumber, null, $"invalid JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.')})", e); }
        string Field(string name)
        {
            if (obj[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
            if (name == "id" && obj[name] is JsonValue n && n.GetValueKind() == JsonValueKind.Number) return n.ToJsonString();
            throw new DataFormatException(path, lineNumber, name, obj[name] == null ? "missing" : "expected a string");
        }
        var response = new TeacherResponse(Field("id"), Field("teacher"), Field("response"), []);
        foreach (var (key, value) in obj.ToList())
            if (key is not ("id" or "teacher" or "response")) { obj.Remove(key); response.Extra[key] = value; }
        return response;
    }

    public static string ToJsonLine(TeacherResponse response)
    {
        var obj = new JsonObject { ["id"] = response.Id, ["teacher"] = response.Teacher, ["response"] = response.Response };
        foreach (var (key, value) in response.Extra) obj[key] = value?.DeepClone();
        return obj.ToJsonString(JsonlDataset.Compact);
    }

    /// <summary>Appends responses to a cache file (creating it), one line each, and adds them here.</summary>
    public void Append(string path, IEnumerable<TeacherResponse> responses)
    {
        using var writer = new StreamWriter(path, append: true, new UTF8Encoding(false));
        foreach (var response in responses)
        {
            writer.Write(ToJsonLine(response) + "\n");
            Add(response);
        }
    }
}

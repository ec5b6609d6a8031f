using System.Text.Json.Nodes;

namespace Ril.Tests.Hostile;

/// <summary>
/// What the seeded fuzz tests of Ril's input files share: hostile JSON values, the slots of a JSON tree, text edits, and
/// the rule every mutation is held to — the loader returns, or fails with its own exception type in one line that names
/// the file; never another exception, never a hang.
/// </summary>
public static class Fuzz
{
    /// <summary>Values that break naive readers: signs, zero, huge and overflowing numbers, other JSON types, null.</summary>
    public static readonly JsonNode?[] HostileJson =
        [-1, 0, 1e30, 2147483647, 2147483648L, -2147483648, 0.5, "x", "", "(a+)+$", "[", null, true, new JsonArray(), new JsonObject(), new JsonArray(1, 2), new JsonObject { ["type"] = "x" }];

    /// <summary>Every value in the tree, by its parent and key or index.</summary>
    public static List<(JsonNode Parent, object Key)> Slots(JsonNode node)
    {
        var slots = new List<(JsonNode, object)>();
        if (node is JsonObject o)
            foreach (var (key, value) in o.ToList()) { slots.Add((o, key)); if (value is not null) slots.AddRange(Slots(value)); }
        else if (node is JsonArray a)
            for (int i = 0; i < a.Count; i++) { slots.Add((a, i)); if (a[i] is { } v) slots.AddRange(Slots(v)); }
        return slots;
    }

    /// <summary>Sets one slot: to a hostile value, or removes it from its object.</summary>
    public static void Set((JsonNode Parent, object Key) slot, Random rng)
    {
        var value = HostileJson[rng.Next(HostileJson.Length)]?.DeepClone();
        if (slot.Parent is JsonObject o)
        {
            if (rng.Next(8) == 0) o.Remove((string)slot.Key);
            else o[(string)slot.Key] = value;
        }
        else ((JsonArray)slot.Parent)[(int)slot.Key] = value;
    }

    /// <summary>Characters that mean something to YAML or JSON, plus a NUL, a tab, a newline and a non-BMP character.</summary>
    static readonly string[] Syntax = [":", "-", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", ",", "?", "\\", "\t", "\n", "\0", " ", "0", "x", "1e9", "~", "😀"];

    /// <summary>One text edit: a character deleted, a syntax character inserted, a line duplicated, or the text cut short.</summary>
    public static string Edit(string text, Random rng)
    {
        if (text.Length == 0) return Syntax[rng.Next(Syntax.Length)];
        int at = rng.Next(text.Length);
        if (char.IsLowSurrogate(text[at])) at--;   // never between the halves of a pair
        switch (rng.Next(4))
        {
            case 0: return text.Remove(at, char.IsHighSurrogate(text[at]) ? 2 : 1);
            case 1: return text.Insert(at, Syntax[rng.Next(Syntax.Length)]);
            case 2:
                var lines = text.Split('\n').ToList();
                int line = rng.Next(lines.Count);
                lines.Insert(line, lines[line]);
                return string.Join('\n', lines);
            default: return text[..at];
        }
    }

    /// <summary>
    /// Runs <paramref name="load"/> on every mutation within a time limit: each returns or throws <typeparamref name="TError"/>
    /// whose message is one line naming <paramref name="fileName"/>. Returns how many were refused.
    /// </summary>
    public static async Task<int> Check<TError>(IEnumerable<(string Mutation, Action Load)> cases, string fileName, TimeSpan limit) where TError : Exception
    {
        int refused = 0;
        var run = Task.Run(() =>
        {
            foreach (var (mutation, load) in cases)
            {
                try { load(); }
                catch (TError e)
                {
                    refused++;
                    Assert.True(e.Message.Contains(fileName, StringComparison.Ordinal), $"the error does not name {fileName}: {e.Message}\nmutation: {mutation}");
                    Assert.False(e.Message.Contains('\n'), $"the error is not one line: {e.Message}\nmutation: {mutation}");
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException)
                {
                    Assert.Fail($"{e.GetType().Name}: {e.Message}\nmutation: {mutation}\n{e.StackTrace}");
                }
            }
        });
        await run.WaitAsync(limit);   // a hang fails the test instead of stalling the suite
        return refused;
    }
}

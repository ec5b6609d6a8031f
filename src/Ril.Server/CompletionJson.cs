using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models.Generation;

namespace Ril.Server;

/// <summary>The reply bodies in OpenAI's shapes: a chat completion, a streamed chunk, the model list.</summary>
internal static class CompletionJson
{
    /// <summary>Text as it is (JSON-escaped only where JSON needs it), for replies that people read in logs.</summary>
    public static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static JsonObject Usage(int promptTokens, int completionTokens) => new()
    {
        ["prompt_tokens"] = promptTokens,
        ["completion_tokens"] = completionTokens,
        ["total_tokens"] = promptTokens + completionTokens,
    };

    public static JsonObject Completion(string id, long created, string model, IReadOnlyList<GeneratedSequence> choices, int promptTokens) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(choices.Select((choice, index) => (JsonNode)new JsonObject
        {
            ["index"] = index,
            ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = choice.Text ?? "" },
            ["logprobs"] = null,
            ["finish_reason"] = choice.FinishReason,
        }).ToArray()),
        ["usage"] = Usage(promptTokens, choices.Sum(c => c.TokenIds.Length)),
    };

    /// <summary>A streamed chunk for one choice: a delta (role and/or content) or, with <paramref name="finishReason"/>, the choice's end.</summary>
    public static JsonObject Chunk(string id, long created, string model, int index, JsonObject delta, string? finishReason = null) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = index,
            ["delta"] = delta,
            ["logprobs"] = null,
            ["finish_reason"] = finishReason,
        }),
    };

    /// <summary>The last chunk when the client asked for usage: no choices, the counts.</summary>
    public static JsonObject UsageChunk(string id, long created, string model, int promptTokens, int completionTokens) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(),
        ["usage"] = Usage(promptTokens, completionTokens),
    };

    public static JsonObject Model(string name, long created) => new()
    {
        ["id"] = name,
        ["object"] = "model",
        ["created"] = created,
        ["owned_by"] = "ril",
    };
}

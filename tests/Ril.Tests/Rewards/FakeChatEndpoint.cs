using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ril.Tests.Rewards;

/// <summary>What the fake endpoint does with one request.</summary>
public abstract record Behaviour
{
    /// <summary>200 with a chat completion whose message is <paramref name="Content"/>.</summary>
    public sealed record Reply(string Content) : Behaviour;
    /// <summary>An error status, with a Retry-After header when given.</summary>
    public sealed record Status(int Code, string? RetryAfter = null) : Behaviour;
    /// <summary>200 with a body that is not a chat completion.</summary>
    public sealed record Garbage(string Body = "<html>upstream exploded</html>") : Behaviour;
    /// <summary>200 with exactly this body (for replies in shapes other servers use).</summary>
    public sealed record Raw(string Body) : Behaviour;
    /// <summary>Waits (until the client gives up, at most <paramref name="Delay"/>), then replies.</summary>
    public sealed record Slow(TimeSpan Delay, string Content) : Behaviour;
}

/// <summary>One request as the endpoint saw it: its script key, which attempt for that key it was, and the JSON body.</summary>
public sealed record ReceivedRequest(string Key, int Attempt, JsonObject Body, DateTime At);

/// <summary>
/// A fault-injecting OpenAI-compatible endpoint for tests: ASP.NET Core minimal API on 127.0.0.1 (a free
/// port), answering POST /v1/chat/completions in OpenAI's JSON shape. Each request is given a key by
/// <c>keyOf</c> (e.g. a tag in the user message) and its behaviour by <c>script(key, attempt)</c>, so the
/// faults land on the same logical requests whatever the concurrency. Every request is recorded.
/// </summary>
public sealed class FakeChatEndpoint : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ConcurrentQueue<ReceivedRequest> _received = new();
    readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    int _inFlight, _maxInFlight, _completionIds;

    public Uri BaseUrl { get; private set; } = null!;
    public IReadOnlyList<ReceivedRequest> Received => _received.ToList();
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    FakeChatEndpoint(WebApplication app) => _app = app;

    /// <summary>The text of the last user message (string content, or the text parts of an array).</summary>
    public static string LastUserText(JsonObject body)
    {
        var user = body["messages"]!.AsArray().Last(m => (string?)m!["role"] == "user")!;
        return user["content"] switch
        {
            JsonValue v => v.GetValue<string>(),
            JsonArray parts => string.Concat(parts.Where(p => (string?)p!["type"] == "text").Select(p => (string?)p!["text"])),
            _ => "",
        };
    }

    public static async Task<FakeChatEndpoint> StartAsync(Func<JsonObject, string> keyOf, Func<string, int, Behaviour> script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var endpoint = new FakeChatEndpoint(app);
        app.MapPost("/v1/chat/completions", endpoint.Handle);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        endpoint.BaseUrl = new Uri(address.TrimEnd('/') + "/v1");
        endpoint._keyOf = keyOf;
        endpoint._script = script;
        return endpoint;
    }

    Func<JsonObject, string> _keyOf = _ => "";
    Func<string, int, Behaviour> _script = (_, _) => new Behaviour.Reply("");

    async Task Handle(HttpContext context)
    {
        int now = Interlocked.Increment(ref _inFlight);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
        try
        {
            var body = (JsonNode.Parse(await new StreamReader(context.Request.Body).ReadToEndAsync()) as JsonObject)!;
            var key = _keyOf(body);
            int attempt = _attempts.AddOrUpdate(key, 1, (_, n) => n + 1);
            _received.Enqueue(new(key, attempt, body, DateTime.UtcNow));
            switch (_script(key, attempt))
            {
                case Behaviour.Reply reply:
                    await WriteCompletion(context, body, reply.Content);
                    break;
                case Behaviour.Status status:
                    context.Response.StatusCode = status.Code;
                    if (status.RetryAfter != null) context.Response.Headers["Retry-After"] = status.RetryAfter;
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync(new JsonObject
                    {
                        ["error"] = new JsonObject { ["message"] = $"scripted {status.Code}", ["type"] = "test", ["code"] = null },
                    }.ToJsonString());
                    break;
                case Behaviour.Garbage garbage:
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync(garbage.Body);
                    break;
                case Behaviour.Raw raw:
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync(raw.Body);
                    break;
                case Behaviour.Slow slow:
                    try { await Task.Delay(slow.Delay, context.RequestAborted); }
                    catch (OperationCanceledException) { return; }
                    await WriteCompletion(context, body, slow.Content);
                    break;
            }
        }
        finally { Interlocked.Decrement(ref _inFlight); }
    }

    async Task WriteCompletion(HttpContext context, JsonObject request, string content)
    {
        var completion = new JsonObject
        {
            ["id"] = $"chatcmpl-{Interlocked.Increment(ref _completionIds)}",
            ["object"] = "chat.completion",
            ["created"] = 1_700_000_000,
            ["model"] = (string?)request["model"] ?? "fake",
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content },
                ["logprobs"] = null,
                ["finish_reason"] = "stop",
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = 10, ["completion_tokens"] = 5, ["total_tokens"] = 15 },
        };
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(completion.ToJsonString());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

using System.Net;
using System.Text.Json.Nodes;

namespace Ril.Server.Tests;

/// <summary>
/// A request's length is measured while it is read (bytes of text, messages, content parts) and an over-long one is
/// refused before anything is tokenized: 413 for too much text, 400 for too many messages or parts, each naming the
/// field and the bound. Before this test a body of megabytes of text was tokenized whole, then refused for the context.
/// </summary>
public sealed class RequestLengthTests
{
    static async Task<JsonObject> Error(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["error"]!.AsObject();
    }

    static string Messages(int count, Func<int, JsonNode> content) => new JsonObject
    {
        ["messages"] = new JsonArray(Enumerable.Range(0, count).Select(i => (JsonNode)new JsonObject { ["role"] = i % 2 == 0 ? "user" : "assistant", ["content"] = content(i) }).ToArray()),
        ["max_tokens"] = 2,
    }.ToJsonString();

    [Fact]
    public async Task Text_messages_and_parts_beyond_their_bounds_are_refused_before_tokenizing()
    {
        var limits = new RequestLimits { MaxTextBytes = 4000, MaxMessages = 5, MaxContentParts = 6 };
        await using var tiny = await TinyServer.StartAsync(TinyServer.Defaults with { Limits = limits });

        // Text: 4000 bytes in all pass; one more byte, over two messages, is 413 naming the message that crossed the bound.
        using (var fits = await tiny.PostAsync(Messages(1, _ => new string('a', 4000))))
            Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        var text = await Error(await tiny.PostAsync(Messages(2, i => new string('a', i == 0 ? 2000 : 2001))), HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("request_too_large", (string?)text["code"]);
        Assert.Equal("messages[1].content", (string?)text["param"]);
        Assert.Contains("more than the 4000 bytes", (string?)text["message"]);
        // Multi-byte characters count as their UTF-8 bytes: 1334 × 3 bytes > 4000.
        await Error(await tiny.PostAsync(Messages(1, _ => new string('€', 1334))), HttpStatusCode.RequestEntityTooLarge);

        var messages = await Error(await tiny.PostAsync(Messages(6, _ => "hi")), HttpStatusCode.BadRequest);
        Assert.Equal("messages", (string?)messages["param"]);
        Assert.Contains("6 messages, more than the 5", (string?)messages["message"]);

        var parts = await Error(await tiny.PostAsync(Messages(3, i => new JsonArray(Enumerable.Range(0, 3).Select(_ => (JsonNode)new JsonObject { ["type"] = "text", ["text"] = "x" }).ToArray()))),
            HttpStatusCode.BadRequest);
        Assert.Equal("messages[2].content", (string?)parts["param"]);
        Assert.Contains("more than the 6 content parts", (string?)parts["message"]);

        // Nothing refused reached the tokenizer: only the request that fit was logged with a prompt length.
        Assert.Single(tiny.Log.Split('\n'), l => l.Contains("prompt ", StringComparison.Ordinal));
        Assert.DoesNotContain("context is", tiny.Log);
    }

    /// <summary>The default bound: a body of 2 MB of text (under the body limit) is 413 at once, not tokenized.</summary>
    [Fact]
    public async Task Megabytes_of_text_are_refused_by_default()
    {
        await using var tiny = await TinyServer.StartAsync(TinyServer.Defaults with { MaxBodyBytes = 4 << 20 });
        var error = await Error(await tiny.PostAsync(tiny.Body(new string('z', 2 << 20))), HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("messages[0].content", (string?)error["param"]);
        Assert.Contains($"{new RequestLimits().MaxTextBytes} bytes", (string?)error["message"]);
    }
}

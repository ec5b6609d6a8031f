using System.Net;
using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Server.Tests;

/// <summary>Requests that are well formed but that the served model cannot take: 400 naming messages or the model.</summary>
public sealed class ModelLimitTests
{
    static async Task<JsonObject> Error(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.AsObject();
    }

    static JsonObject ImageMessage() => new()
    {
        ["role"] = "user",
        ["content"] = new JsonArray(
            new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(PngEncoder.Encode(new Image(2, 2, 1, [0, 64, 128, 255]))) } },
            new JsonObject { ["type"] = "text", ["text"] = "What is this?" }),
    };

    [Fact]
    public async Task A_text_model_refuses_images_and_every_model_refuses_more_than_its_context()
    {
        await using var tiny = await TinyServer.StartAsync(vision: false);
        var image = await Error(await tiny.PostAsync(new JsonObject { ["messages"] = new JsonArray(ImageMessage()) }.ToJsonString()), HttpStatusCode.BadRequest);
        Assert.Equal("messages", (string?)image["param"]);
        Assert.Contains("no vision tower", (string?)image["message"]);

        var tooLong = await Error(await tiny.PostAsync(tiny.Body(extra: new JsonObject { ["max_tokens"] = 5000 })), HttpStatusCode.BadRequest);
        Assert.Equal("context_length_exceeded", (string?)tooLong["code"]);
        Assert.Contains("2048", (string?)tooLong["message"]);

        var model = await Error(await tiny.PostAsync(tiny.Body().Replace(tiny.Server.ModelName, "gpt-4o")), HttpStatusCode.NotFound);
        Assert.Equal("model_not_found", (string?)model["code"]);

        using var fine = await tiny.PostAsync(tiny.Body());
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
    }

    /// <summary>
    /// An image placeholder a user types is text, not a slot for image features (it used to reach the model as the
    /// control token, which the server then had to refuse); a real image part still works.
    /// </summary>
    [Fact]
    public async Task Image_tokens_written_as_text_stay_text()
    {
        await using var tiny = await TinyServer.StartAsync();
        using var typed = await tiny.PostAsync(tiny.Body("look: <|image_pad|>"));
        Assert.Equal(HttpStatusCode.OK, typed.StatusCode);
        var model = TinyModel.Load(Directory.CreateTempSubdirectory("ril-typed-").FullName);
        var ids = model.EncodeChat([Ril.Text.ChatMessage.User("look: <|image_pad|>")]);
        Assert.DoesNotContain(model.Model.ImageTokenId, ids);

        using var withImage = await tiny.PostAsync(new JsonObject { ["messages"] = new JsonArray(ImageMessage()), ["max_tokens"] = 3 }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, withImage.StatusCode);
    }

    /// <summary>
    /// A decompression bomb (a few KB of PNG that would decode to 5000 × 5000 pixels) is refused from its header with a
    /// 400 naming the limit, concurrently with ordinary requests, which are still answered. Before, one such image took
    /// the server to 9.5 GB.
    /// </summary>
    [Fact]
    public async Task A_decompression_bomb_is_refused_unread_while_ordinary_requests_are_answered()
    {
        var bomb = PngEncoder.Encode(new Image(5000, 5000, 1));
        Assert.True(bomb.Length < 100_000, $"the bomb is {bomb.Length} bytes");
        await using var tiny = await TinyServer.StartAsync(TinyServer.Defaults with { MaxBodyBytes = 1 << 20 });
        var message = new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(
                new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(bomb) } },
                new JsonObject { ["type"] = "text", ["text"] = "What is this?" }),
        };
        var bombs = Enumerable.Range(0, 6).Select(_ => tiny.PostAsync(new JsonObject { ["messages"] = new JsonArray(message.DeepClone()) }.ToJsonString())).ToList();
        var ordinary = Enumerable.Range(0, 3).Select(_ => tiny.PostAsync(tiny.Body())).ToList();
        foreach (var response in await Task.WhenAll(bombs))
        {
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
            var error = await Error(response, HttpStatusCode.BadRequest);
            Assert.Equal("invalid_image", (string?)error["code"]);
            Assert.Contains("exceeds the limit of 16777216 pixels", (string?)error["message"]);
        }
        foreach (var response in await Task.WhenAll(ordinary)) Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

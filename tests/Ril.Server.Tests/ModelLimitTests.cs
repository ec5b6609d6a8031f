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

    [Fact]
    public async Task Image_tokens_written_as_text_are_refused_not_run()
    {
        await using var tiny = await TinyServer.StartAsync();
        var error = await Error(await tiny.PostAsync(tiny.Body("look: <|image_pad|>")), HttpStatusCode.BadRequest);
        Assert.Equal("messages", (string?)error["param"]);
        Assert.Contains("placeholder", (string?)error["message"]);

        using var withImage = await tiny.PostAsync(new JsonObject { ["messages"] = new JsonArray(ImageMessage()), ["max_tokens"] = 3 }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, withImage.StatusCode);
    }
}

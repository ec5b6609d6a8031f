using System.Text;
using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Server.Tests;

/// <summary>Reading request bodies: every fault is a 400 naming its field; everything valid is read as OpenAI means it.</summary>
public sealed class ChatCompletionRequestTests
{
    static readonly RequestLimits Limits = new();

    static ChatCompletionRequest Parse(string json) => ChatCompletionRequest.Parse(Encoding.UTF8.GetBytes(json), Limits);

    static string WithMessages(string fields) => $$"""{"messages": [{"role": "user", "content": "hi"}]{{fields}}}""";

    [Theory]
    [InlineData("", null, "invalid_json")]
    [InlineData("{\"messages\": [}", null, "invalid_json")]
    [InlineData("\"hello\"", null, "invalid_json")]
    [InlineData("{}", "messages", "missing_required_parameter")]
    [InlineData("{\"messages\": null}", "messages", "missing_required_parameter")]
    [InlineData("{\"messages\": {\"role\": \"user\"}}", "messages", "invalid_type")]
    [InlineData("{\"messages\": []}", "messages", "invalid_value")]
    [InlineData("{\"messages\": [\"hi\"]}", "messages[0]", "invalid_type")]
    [InlineData("{\"messages\": [{\"content\": \"hi\"}]}", "messages[0].role", "missing_required_parameter")]
    [InlineData("{\"messages\": [{\"role\": 1, \"content\": \"hi\"}]}", "messages[0].role", "invalid_type")]
    [InlineData("{\"messages\": [{\"role\": \"tool\", \"content\": \"hi\"}]}", "messages[0].role", "invalid_value")]
    [InlineData("{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content", "missing_required_parameter")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content", "invalid_type")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"see <image>\"}]}", "messages[0].content", "invalid_value")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"hi\"}]}]}", "messages[0].content[0].type", "missing_required_parameter")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"audio\"}]}]}", "messages[0].content[0].type", "unsupported_parameter")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": 3}]}]}", "messages[0].content[0].text", "invalid_type")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"https://example.com/a.png\"}}]}]}", "messages[0].content[0].image_url.url", "invalid_value")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,!!!\"}}]}]}", "messages[0].content[0].image_url.url", "invalid_value")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,aGVsbG8=\"}}]}]}", "messages[0].content[0].image_url.url", "invalid_image")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,aGVsbG8=\"}}]}]}", "messages[0].content[0]", "invalid_value")]
    public void Bad_messages_name_their_field(string json, string? param, string code)
    {
        var error = Assert.Throws<ApiError>(() => Parse(json));
        Assert.Equal(400, error.Status);
        Assert.Equal(param, error.Param);
        Assert.Equal(code, error.Code);
        if (param != null) Assert.Contains(param, error.Message);
    }

    [Theory]
    [InlineData(", \"temperature\": \"0.5\"", "temperature", "invalid_type")]
    [InlineData(", \"temperature\": 2.5", "temperature", "invalid_value")]
    [InlineData(", \"top_p\": 0", "top_p", "invalid_value")]
    [InlineData(", \"top_p\": [1]", "top_p", "invalid_type")]
    [InlineData(", \"top_k\": -2", "top_k", "invalid_value")]
    [InlineData(", \"max_tokens\": 0", "max_tokens", "invalid_value")]
    [InlineData(", \"max_completion_tokens\": 2.5", "max_completion_tokens", "invalid_value")]
    [InlineData(", \"max_tokens\": \"10\"", "max_tokens", "invalid_type")]
    [InlineData(", \"n\": 0", "n", "invalid_value")]
    [InlineData(", \"n\": 17", "n", "invalid_value")]
    [InlineData(", \"stop\": 5", "stop", "invalid_type")]
    [InlineData(", \"stop\": [\"a\", 5]", "stop[1]", "invalid_type")]
    [InlineData(", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]", "stop", "invalid_value")]
    [InlineData(", \"stop\": \"\"", "stop", "invalid_value")]
    [InlineData(", \"seed\": \"7\"", "seed", "invalid_type")]
    [InlineData(", \"seed\": 1.5", "seed", "invalid_value")]
    [InlineData(", \"stream\": 1", "stream", "invalid_type")]
    [InlineData(", \"stream_options\": {\"include_usage\": \"yes\"}", "stream_options.include_usage", "invalid_type")]
    [InlineData(", \"model\": 3", "model", "invalid_type")]
    [InlineData(", \"logprobs\": true", "logprobs", "unsupported_parameter")]
    [InlineData(", \"tools\": [{\"type\": \"function\"}]", "tools", "unsupported_parameter")]
    [InlineData(", \"presence_penalty\": 0.5", "presence_penalty", "unsupported_parameter")]
    [InlineData(", \"response_format\": {\"type\": \"json_object\"}", "response_format.type", "unsupported_parameter")]
    public void Bad_settings_name_their_field(string fields, string param, string code)
    {
        var error = Assert.Throws<ApiError>(() => Parse(WithMessages(fields)));
        Assert.Equal(400, error.Status);
        Assert.Equal(param, error.Param);
        Assert.Equal(code, error.Code);
        var json = error.ToJson()["error"]!;
        Assert.Equal("invalid_request_error", (string?)json["type"]);
        Assert.Equal(param, (string?)json["param"]);
    }

    [Fact]
    public void Settings_are_read_with_openais_defaults_and_names()
    {
        var plain = Parse(WithMessages(""));
        Assert.Equal(((float?)null, (float?)null, (int?)null, (float?)null, (int?)null, 1, false, false), (plain.Temperature, plain.TopP, plain.TopK, plain.RepetitionPenalty, plain.MaxTokens, plain.N, plain.Stream, plain.IncludeUsage));
        Assert.Null(plain.Seed);
        Assert.Empty(plain.Stop);

        var full = Parse(WithMessages("""
            , "model": "m", "temperature": 0, "top_p": 0.5, "top_k": -1, "repetition_penalty": 1.1, "max_tokens": 9,
              "max_completion_tokens": 7, "n": 3, "stop": "\n\n", "seed": -1, "stream": true, "stream_options": {"include_usage": true},
              "presence_penalty": 0, "frequency_penalty": null, "user": "someone", "logprobs": false, "tools": []
            """));
        Assert.Equal("m", full.Model);
        Assert.Equal(((float?)0f, (float?)0.5f, (int?)0, (float?)1.1f, (int?)7, 3), (full.Temperature, full.TopP, full.TopK, full.RepetitionPenalty, full.MaxTokens, full.N));
        Assert.Equal(["\n\n"], full.Stop);
        Assert.Equal(ulong.MaxValue, full.Seed);
        Assert.True(full.Stream && full.IncludeUsage);
        Assert.Equal(16, Parse(WithMessages(", \"max_tokens\": 16.0")).MaxTokens);
    }

    [Fact]
    public void Content_parts_keep_their_images_in_order_where_they_stood()
    {
        var red = new Image(2, 1, 3, [255, 0, 0, 255, 0, 0]);
        var grey = new Image(1, 1, 1, [128]);
        string Url(Image image) => "data:image/png;base64," + Convert.ToBase64String(PngEncoder.Encode(image));
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "developer", ["content"] = "Be brief." },
                new JsonObject
                {
                    ["role"] = "user",
                    ["content"] = new JsonArray(
                        new JsonObject { ["type"] = "text", ["text"] = "Compare " },
                        new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = Url(red), ["detail"] = "low" } },
                        new JsonObject { ["type"] = "text", ["text"] = " with " },
                        new JsonObject { ["type"] = "image_url", ["image_url"] = Url(grey) }),
                },
                new JsonObject { ["role"] = "assistant", ["content"] = null }),
        };
        var request = Parse(body.ToJsonString());
        Assert.Equal(["system", "user", "assistant"], request.Messages.Select(m => m.Role));
        Assert.Equal("Compare <image> with <image>", request.Messages[1].Content);
        Assert.Equal("", request.Messages[2].Content);
        Assert.Equal(2, request.Images.Count);
        Assert.True(request.Images[0].SamePixels(red));
        Assert.True(request.Images[1].SamePixels(grey));

        var tooMany = new JsonArray(Enumerable.Range(0, 9).Select(_ => (JsonNode)new JsonObject { ["type"] = "image_url", ["image_url"] = Url(grey) }).ToArray());
        var error = Assert.Throws<ApiError>(() => Parse(new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = tooMany }) }.ToJsonString()));
        Assert.Equal("messages[0].content[8]", error.Param);
    }
}

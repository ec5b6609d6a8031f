using System.Text.Json;
using Ril.Data.Images;
using Ril.Text;

namespace Ril.Server;

/// <summary>The limits a request is checked against.</summary>
public sealed record RequestLimits
{
    /// <summary>Most choices (<c>n</c>) one request may ask for.</summary>
    public int MaxChoices { get; init; } = 16;
    /// <summary>Most images in one request.</summary>
    public int MaxImages { get; init; } = 8;
    /// <summary>Largest image (width × height, read from its header before decoding): a decompression bomb is refused unread.</summary>
    public long MaxImagePixels { get; init; } = 4096 * 4096;
    /// <summary>Most pixels of all the images of one request together.</summary>
    public long MaxRequestPixels { get; init; } = 2L * 4096 * 4096;
    /// <summary>Most stop strings (OpenAI allows 4).</summary>
    public int MaxStops { get; init; } = 4;
    /// <summary>
    /// Most bytes (UTF-8) of text in all messages together, counted as they are read; more is 413 before anything is
    /// tokenized (docs/spec/BOUNDS.md "A request's length"). 1 MiB is several times the longest context Ril serves.
    /// </summary>
    public long MaxTextBytes { get; init; } = 1L << 20;
    /// <summary>Most messages in one request.</summary>
    public int MaxMessages { get; init; } = 1024;
    /// <summary>Most content parts (text and images) of all messages together.</summary>
    public int MaxContentParts { get; init; } = 1024;
}

/// <summary>
/// A POST /v1/chat/completions body, read and checked field by field: every fault is an <see cref="ApiError"/>
/// naming the field. Messages keep their images as <see cref="ChatTemplate.DefaultImageMarker"/> where the image
/// part stood; <see cref="Images"/> holds the decoded images in the same order.
/// Fields Ril has no use for (user, metadata, store, ...) are ignored; those that would change the answer and that
/// Ril cannot honour (tools, logprobs, non-zero presence/frequency penalties, JSON mode) are refused.
/// </summary>
public sealed record ChatCompletionRequest
{
    public string? Model { get; init; }
    public required IReadOnlyList<ChatMessage> Messages { get; init; }
    public IReadOnlyList<Image> Images { get; init; } = [];
    // Sampling settings the request leaves out are null: the model's generation_config.json decides, as in vLLM.
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    /// <summary>0 keeps every token (vLLM's extension; -1 means the same there).</summary>
    public int? TopK { get; init; }
    /// <summary>vLLM's extension; 1 is off.</summary>
    public float? RepetitionPenalty { get; init; }
    /// <summary>max_completion_tokens, or the older max_tokens; null: the server's default.</summary>
    public int? MaxTokens { get; init; }
    public int N { get; init; } = 1;
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>null: the server draws one.</summary>
    public ulong? Seed { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }

    static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant"];

    public static ChatCompletionRequest Parse(ReadOnlyMemory<byte> body, RequestLimits limits)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e) { throw new ApiError(400, $"the body is not valid JSON: {e.Message}", null, "invalid_json"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ApiError(400, "the body must be a JSON object", null, "invalid_json");

            var images = new List<Image>();
            var messages = ReadMessages(root, images, limits);
            if (Boolean(root, "logprobs") == true) throw ApiError.Unsupported("logprobs", "is not supported by this server");
            foreach (var name in new[] { "tools", "functions" })
                if (Field(root, name) is { ValueKind: JsonValueKind.Array } list && list.GetArrayLength() > 0)
                    throw ApiError.Unsupported(name, "is not supported: Ril models do not call tools");
            foreach (var name in new[] { "presence_penalty", "frequency_penalty" })
                if (Number(root, name) is { } value && value != 0)
                    throw ApiError.Unsupported(name, "is not supported; use repetition_penalty");
            if (Field(root, "response_format") is { } format)
            {
                if (format.ValueKind != JsonValueKind.Object) throw ApiError.WrongType("response_format", "an object", format.ValueKind);
                if (String(format, "type", "response_format.type") is { } type && type != "text")
                    throw ApiError.Unsupported("response_format.type", $"'{type}' is not supported (only 'text')");
            }

            float? temperature = Number(root, "temperature");
            if (temperature is < 0 or > 2 || temperature is float.NaN) throw ApiError.Invalid("temperature", $"must be between 0 and 2, got {temperature}");
            float? topP = Number(root, "top_p");
            if (topP is <= 0 or > 1 || topP is float.NaN) throw ApiError.Invalid("top_p", $"must be in (0, 1], got {topP}");
            long? topK = Integer(root, "top_k");
            if (topK < -1 || topK > int.MaxValue) throw ApiError.Invalid("top_k", $"must be -1, 0 (all tokens) or a positive count, got {topK}");
            float? penalty = Number(root, "repetition_penalty");
            if (penalty is <= 0 or float.NaN) throw ApiError.Invalid("repetition_penalty", $"must be positive, got {penalty}");

            int? maxTokens = null;
            foreach (var name in new[] { "max_tokens", "max_completion_tokens" })   // the newer name wins when both are given
                if (Integer(root, name) is { } value)
                {
                    if (value < 1) throw ApiError.Invalid(name, $"must be at least 1, got {value}");
                    maxTokens = (int)Math.Min(value, int.MaxValue);
                }
            long n = Integer(root, "n") ?? 1;
            if (n < 1 || n > limits.MaxChoices) throw ApiError.Invalid("n", $"must be between 1 and {limits.MaxChoices}, got {n}");

            var stream = Boolean(root, "stream") ?? false;
            bool includeUsage = false;
            if (Field(root, "stream_options") is { } streamOptions)
            {
                if (streamOptions.ValueKind != JsonValueKind.Object) throw ApiError.WrongType("stream_options", "an object", streamOptions.ValueKind);
                includeUsage = Boolean(streamOptions, "include_usage", "stream_options.include_usage") ?? false;
            }

            return new ChatCompletionRequest
            {
                Model = String(root, "model"),
                Messages = messages,
                Images = images,
                Temperature = temperature, TopP = topP, TopK = topK is { } k ? (int)Math.Max(0, k) : null, RepetitionPenalty = penalty,
                MaxTokens = maxTokens, N = (int)n, Stop = ReadStop(root, limits), Seed = ReadSeed(root),
                Stream = stream, IncludeUsage = includeUsage,
            };
        }
    }

    static List<ChatMessage> ReadMessages(JsonElement root, List<Image> images, RequestLimits limits)
    {
        var list = Field(root, "messages") ?? throw ApiError.Missing("messages");
        if (list.ValueKind != JsonValueKind.Array) throw ApiError.WrongType("messages", "an array of messages", list.ValueKind);
        if (list.GetArrayLength() == 0) throw ApiError.Invalid("messages", "must hold at least one message");
        if (list.GetArrayLength() > limits.MaxMessages)
            throw ApiError.Invalid("messages", $"holds {list.GetArrayLength()} messages, more than the {limits.MaxMessages} this server takes in one request");
        var messages = new List<ChatMessage>();
        var length = new Length(limits);
        int i = 0;
        foreach (var message in list.EnumerateArray())
        {
            var at = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object) throw ApiError.WrongType(at, "an object", message.ValueKind);
            var role = String(message, "role", $"{at}.role") ?? throw ApiError.Missing($"{at}.role");
            if (!Roles.Contains(role))
                throw ApiError.Invalid($"{at}.role", $"must be system, developer, user or assistant, got '{role}'");
            if (role == "developer") role = "system";   // OpenAI's newer name for the system turn
            messages.Add(new ChatMessage(role, ReadContent(message, role, at, images, limits, length)));
        }
        return messages;
    }

    /// <summary>A message's text, with an image marker where each image part stood.</summary>
    static string ReadContent(JsonElement message, string role, string at, List<Image> images, RequestLimits limits, Length length)
    {
        var content = Field(message, "content");
        if (content is null)
            return role == "assistant" ? "" : throw ApiError.Missing($"{at}.content");
        if (content.Value.ValueKind == JsonValueKind.String) return CheckedText(length.Text(content.Value.GetString()!, $"{at}.content"), $"{at}.content");
        if (content.Value.ValueKind != JsonValueKind.Array)
            throw ApiError.WrongType($"{at}.content", "a string or an array of content parts", content.Value.ValueKind);
        length.Parts(content.Value.GetArrayLength(), $"{at}.content");
        var text = new System.Text.StringBuilder();
        int j = 0;
        foreach (var part in content.Value.EnumerateArray())
        {
            var partAt = $"{at}.content[{j++}]";
            if (part.ValueKind != JsonValueKind.Object) throw ApiError.WrongType(partAt, "an object", part.ValueKind);
            var type = String(part, "type", $"{partAt}.type") ?? throw ApiError.Missing($"{partAt}.type");
            switch (type)
            {
                case "text":
                    text.Append(CheckedText(length.Text(String(part, "text", $"{partAt}.text") ?? throw ApiError.Missing($"{partAt}.text"), $"{partAt}.text"), $"{partAt}.text"));
                    break;
                case "image_url":
                    if (role != "user") throw ApiError.Invalid(partAt, $"is an image, but only user messages may hold images (this is a {role} message)");
                    if (images.Count >= limits.MaxImages) throw ApiError.Invalid(partAt, $"is one image too many: at most {limits.MaxImages} per request");
                    long left = limits.MaxRequestPixels - images.Sum(i => (long)i.Width * i.Height);
                    images.Add(ReadImage(part, $"{partAt}.image_url", Math.Min(limits.MaxImagePixels, left)));
                    text.Append(ChatTemplate.DefaultImageMarker);
                    break;
                default:
                    throw ApiError.Unsupported($"{partAt}.type", $"'{type}' is not supported (only 'text' and 'image_url')");
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// A request's length so far, against its bounds (docs/spec/BOUNDS.md "A request's length"): bytes of text and content
    /// parts over all messages, each checked as it is read, so the first field past a bound is the one named.
    /// </summary>
    sealed class Length(RequestLimits limits)
    {
        long _textBytes;
        int _parts;

        public string Text(string text, string at)
        {
            _textBytes += System.Text.Encoding.UTF8.GetByteCount(text);
            if (_textBytes > limits.MaxTextBytes)
                throw new ApiError(413, $"'{at}' brings the messages' text to {_textBytes} bytes, more than the {limits.MaxTextBytes} bytes this server takes in one request",
                    at, "request_too_large");
            return text;
        }

        public void Parts(int count, string at)
        {
            _parts += count;
            if (_parts > limits.MaxContentParts)
                throw ApiError.Invalid(at, $"brings the request to {_parts} content parts, more than the {limits.MaxContentParts} content parts this server takes in one request");
        }
    }

    /// <summary>Text may not write the image marker itself: the marker would stand for an image that is not there.</summary>
    static string CheckedText(string text, string at) =>
        text.Contains(ChatTemplate.DefaultImageMarker, StringComparison.Ordinal)
            ? throw ApiError.Invalid(at, $"contains '{ChatTemplate.DefaultImageMarker}', which this server reserves for image parts; send the image as an image_url part")
            : text;

    /// <summary>An image part: <c>{"image_url": {"url": "data:image/png;base64,..."}}</c> (a bare URL string is accepted too).</summary>
    static Image ReadImage(JsonElement part, string at, long maxPixels)
    {
        var value = Field(part, "image_url") ?? throw ApiError.Missing(at);
        string url = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Object => String(value, "url", $"{at}.url") ?? throw ApiError.Missing($"{at}.url"),
            _ => throw ApiError.WrongType(at, "an object with a url", value.ValueKind),
        };
        at = value.ValueKind == JsonValueKind.Object ? $"{at}.url" : at;
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw ApiError.Invalid(at, "must be a data URL (data:image/png;base64,...): this server fetches nothing from the network");
        int comma = url.IndexOf(',');
        var header = comma < 0 ? "" : url[5..comma];
        if (comma < 0 || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            throw ApiError.Invalid(at, "must be a base64 data URL (data:<media type>;base64,<data>)");
        byte[] bytes;
        try { bytes = Convert.FromBase64String(url[(comma + 1)..]); }
        catch (FormatException) { throw ApiError.Invalid(at, "holds data that is not valid base64"); }
        var mediaType = header[..^";base64".Length].ToLowerInvariant();
        var extension = mediaType switch { "image/png" => ".png", "image/jpeg" or "image/jpg" => ".jpg", "image/x-portable-pixmap" => ".ppm", _ => null };
        try { return ImageFile.Decode(bytes, extension, maxPixels); }
        catch (ImageFormatException e) { throw new ApiError(400, $"'{at}' is not an image Ril can read: {e.Message}", at, "invalid_image"); }
    }

    static List<string> ReadStop(JsonElement root, RequestLimits limits)
    {
        var stop = Field(root, "stop");
        if (stop is null) return [];
        var stops = new List<string>();
        if (stop.Value.ValueKind == JsonValueKind.String) stops.Add(stop.Value.GetString()!);
        else if (stop.Value.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var item in stop.Value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw ApiError.WrongType($"stop[{i}]", "a string", item.ValueKind);
                stops.Add(item.GetString()!);
                i++;
            }
        }
        else throw ApiError.WrongType("stop", "a string or an array of strings", stop.Value.ValueKind);
        if (stops.Count > limits.MaxStops) throw ApiError.Invalid("stop", $"may hold at most {limits.MaxStops} strings, got {stops.Count}");
        if (stops.Any(s => s.Length == 0)) throw ApiError.Invalid("stop", "must not hold an empty string");
        return stops;
    }

    static ulong? ReadSeed(JsonElement root)
    {
        if (Field(root, "seed") is not { } seed) return null;
        if (seed.ValueKind != JsonValueKind.Number) throw ApiError.WrongType("seed", "an integer", seed.ValueKind);
        if (seed.TryGetInt64(out var signed)) return unchecked((ulong)signed);
        if (seed.TryGetUInt64(out var unsigned)) return unsigned;
        throw ApiError.Invalid("seed", $"must be an integer, got {seed.GetRawText()}");
    }

    // Field readers: JSON null counts as absent; a value of the wrong kind is a 400 naming the field.

    static JsonElement? Field(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    static string? String(JsonElement obj, string name, string? param = null)
    {
        if (Field(obj, name) is not { } value) return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw ApiError.WrongType(param ?? name, "a string", value.ValueKind);
    }

    static float? Number(JsonElement obj, string name)
    {
        if (Field(obj, name) is not { } value) return null;
        return value.ValueKind == JsonValueKind.Number ? (float)value.GetDouble() : throw ApiError.WrongType(name, "a number", value.ValueKind);
    }

    static long? Integer(JsonElement obj, string name)
    {
        if (Field(obj, name) is not { } value) return null;
        if (value.ValueKind != JsonValueKind.Number) throw ApiError.WrongType(name, "an integer", value.ValueKind);
        if (value.TryGetInt64(out var integer)) return integer;
        // 16.0 is an integer written as a float; 16.5 is not.
        double d = value.GetDouble();
        if (Math.Floor(d) == d && Math.Abs(d) < 9e15) return (long)d;
        throw ApiError.Invalid(name, $"must be an integer, got {value.GetRawText()}");
    }

    static bool? Boolean(JsonElement obj, string name, string? param = null)
    {
        if (Field(obj, name) is not { } value) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiError.WrongType(param ?? name, "a boolean", value.ValueKind),
        };
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ril.Server;

/// <summary>
/// A request the server will not serve, with the HTTP status and OpenAI's error body:
/// <c>{"error": {"message", "type", "param", "code"}}</c>. <see cref="Param"/> names the field at fault
/// (<c>messages[2].content</c>, <c>temperature</c>), so a client can tell what to fix.
/// </summary>
public sealed class ApiError(int status, string message, string? param = null, string? code = null, string type = ApiError.InvalidRequest)
    : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error", ServerError = "server_error";

    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;

    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject { ["message"] = Message, ["type"] = Type, ["param"] = Param, ["code"] = Code },
    };

    public static ApiError Missing(string param) => new(400, $"'{param}' is required", param, "missing_required_parameter");

    public static ApiError WrongType(string param, string expected, JsonValueKind got) =>
        new(400, $"'{param}' must be {expected}, got {Describe(got)}", param, "invalid_type");

    public static ApiError Invalid(string param, string message) => new(400, $"'{param}' {message}", param, "invalid_value");

    public static ApiError Unsupported(string param, string message) => new(400, $"'{param}' {message}", param, "unsupported_parameter");

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}

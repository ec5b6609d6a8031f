using System.Text.Json.Nodes;

namespace Ril.Text.Jinja;

/// <summary>Ril's chat messages as a chat template reads them: Hugging Face's message dictionaries.</summary>
public static class HfMessages
{
    /// <summary>
    /// Each message as {"role", "content"}: plain text stays a string; text with image markers becomes a list of parts,
    /// {"type": "image"} where each marker stood and {"type": "text", "text": …} between them, as transformers' processors
    /// expect image messages. With <paramref name="alwaysParts"/> plain text is a list of one text part too, for
    /// templates that iterate every message's parts (SmolVLM's).
    /// </summary>
    public static JsonArray Of(IReadOnlyList<ChatMessage> messages, string imageMarker, bool alwaysParts = false)
    {
        var list = new JsonArray();
        foreach (var m in messages)
        {
            JsonNode content;
            if (!alwaysParts && !m.Content.Contains(imageMarker, StringComparison.Ordinal)) content = m.Content;
            else
            {
                var parts = new JsonArray();
                var pieces = m.Content.Split(imageMarker);
                for (int i = 0; i < pieces.Length; i++)
                {
                    if (i > 0) parts.Add(new JsonObject { ["type"] = "image" });
                    if (pieces[i].Length > 0) parts.Add(new JsonObject { ["type"] = "text", ["text"] = pieces[i] });
                }
                content = parts;
            }
            list.Add(new JsonObject { ["role"] = m.Role, ["content"] = content });
        }
        return list;
    }
}

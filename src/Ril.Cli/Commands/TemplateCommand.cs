using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Text.Jinja;

namespace Ril.Cli.Commands;

/// <summary>`ril template render`: a model folder's chat template applied to a conversation, as transformers renders it.</summary>
public static class TemplateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A model folder (or Hub id Org/Name[@revision]) with chat_template.jinja, chat_template.json or a chat_template in tokenizer_config.json", Required = true };
        var messages = new Option<string>("--messages") { Description = "A JSON file: the list of messages, or an object with \"messages\" and other variables (tools, enable_thinking, ...)", Required = true };
        var generationPrompt = new Option<bool>("--generation-prompt") { Description = "End with the opening of the assistant's turn (add_generation_prompt=True)" };
        var render = new Command("render",
            "Print the conversation exactly as the model's chat template renders it (no newline is added). " +
            "A template error, or the template rejecting the conversation (raise_exception), exits with 1.") { model, messages, generationPrompt };
        render.SetAction(parse => ErrorReporting.Run(() =>
        {
            var dir = ModelArgument.Resolve(parse.GetValue(model)!);
            var template = HfChatTemplate.FromModelDirectory(dir)
                           ?? throw new ArgumentException($"{dir} has no chat template (chat_template.jinja, chat_template.json, or chat_template in tokenizer_config.json)");
            var (conversation, context) = ReadConversation(parse.GetValue(messages)!);
            var text = template.Apply(conversation, parse.GetValue(generationPrompt), context);
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
            stdout.Write(text);
            return 0;
        }));
        return new Command("template", "Chat templates of Hugging Face checkpoints") { render };
    }

    static (JsonArray Messages, JsonObject? Context) ReadConversation(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"messages file not found: {path}", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        switch (root)
        {
            case JsonArray list: return (list, null);
            case JsonObject { } obj when obj["messages"] is JsonArray list:
                obj.Remove("messages");
                return (list, obj);
            default: throw new InvalidDataException($"{path}: expected a list of messages or an object with \"messages\"");
        }
    }
}

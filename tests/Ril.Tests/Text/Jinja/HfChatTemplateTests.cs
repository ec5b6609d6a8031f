using System.Text.Json.Nodes;
using Ril.Text.Jinja;

namespace Ril.Tests.Text.Jinja;

/// <summary>Where <see cref="HfChatTemplate.FromModelDirectory"/> finds a model's template and special tokens, in transformers' order.</summary>
public class HfChatTemplateTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-chat-template-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static readonly JsonArray Hello = JsonNode.Parse("""[{"role": "user", "content": "Hello"}]""")!.AsArray();

    void Write(string file, string text) => File.WriteAllText(Path.Combine(_dir, file), text);

    const string TokenizerConfig = """
        {"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "eos_token": "</s>",
         "chat_template": "config:{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}
        """;

    [Fact]
    public void Chat_template_jinja_comes_first_and_the_tokens_come_from_tokenizer_config()
    {
        Write("tokenizer_config.json", TokenizerConfig);
        Write("chat_template.json", """{"chat_template": "json:{{ messages[0].content }}"}""");
        Write("chat_template.jinja", "jinja:{{ bos_token }}{{ messages[0].content }}{{ eos_token }}\n");
        var template = HfChatTemplate.FromModelDirectory(_dir)!;
        Assert.Equal("chat_template.jinja", template.Name);
        Assert.Equal("jinja:<s>Hello</s>", template.Apply(Hello, false));   // jinja2 drops the file's final newline
    }

    [Fact]
    public void Chat_template_json_comes_before_tokenizer_config()
    {
        Write("tokenizer_config.json", TokenizerConfig);
        Write("chat_template.json", """{"chat_template": "json:{{ messages[0].content }}"}""");
        Assert.Equal("json:Hello", HfChatTemplate.FromModelDirectory(_dir)!.Apply(Hello, false));
    }

    [Fact]
    public void Tokenizer_config_alone_is_used_with_its_added_token_objects()
    {
        Write("tokenizer_config.json", TokenizerConfig);
        var template = HfChatTemplate.FromModelDirectory(_dir)!;
        Assert.Equal("<s>", template.BosToken);
        Assert.Equal("config:<s>Hello</s>", template.Apply(Hello, false));
    }

    [Fact]
    public void Named_templates_use_default_and_tool_use_when_tools_are_given()
    {
        Write("tokenizer_config.json", """
            {"chat_template": [{"name": "tool_use", "template": "tools:{{ tools | length }}"},
                               {"name": "default", "template": "default:{{ messages | length }}"}]}
            """);
        var template = HfChatTemplate.FromModelDirectory(_dir)!;
        Assert.Equal("default:1", template.Apply(Hello, false));
        Assert.Equal("tools:2", template.Apply(Hello, false, new JsonObject { ["tools"] = new JsonArray(1, 2) }));
    }

    [Fact]
    public void Named_templates_without_a_default_are_an_error()
    {
        Write("tokenizer_config.json", """{"chat_template": [{"name": "rag", "template": "x"}]}""");
        var e = Assert.Throws<InvalidDataException>(() => HfChatTemplate.FromModelDirectory(_dir));
        Assert.Contains("none named 'default'", e.Message);
    }

    [Fact]
    public void A_folder_without_a_template_gives_null()
    {
        Assert.Null(HfChatTemplate.FromModelDirectory(_dir));
        Write("tokenizer_config.json", """{"eos_token": "</s>"}""");
        Assert.Null(HfChatTemplate.FromModelDirectory(_dir));
    }

    [Fact]
    public void A_syntax_error_names_the_file()
    {
        Write("chat_template.jinja", "ok\n{% if messages %}\n");
        var e = Assert.Throws<TemplateException>(() => HfChatTemplate.FromModelDirectory(_dir));
        Assert.Equal("chat_template.jinja", e.TemplateName);
        Assert.Equal(2, e.Line);
    }
}

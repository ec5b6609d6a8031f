using System.Diagnostics;
using System.Text;

namespace Ril.Cli.Tests;

/// <summary>`ril template render`: prints a model folder's chat template applied to a conversation, byte for byte.</summary>
public class TemplateCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-template-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    // Gemma 2's template (google/gemma-2-2b-it), which refuses a system message.
    const string Gemma2 = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

    string Model(bool withTemplate)
    {
        var dir = Path.Combine(_dir, withTemplate ? "gemma" : "bare");
        Directory.CreateDirectory(dir);
        var config = new System.Text.Json.Nodes.JsonObject { ["bos_token"] = "<bos>", ["eos_token"] = "<eos>" };
        if (withTemplate) config["chat_template"] = Gemma2;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        return dir;
    }

    string Messages(string json)
    {
        var path = Path.Combine(_dir, $"messages-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    /// <summary>Runs `ril` keeping stdout exactly as written (Processes.Run joins lines).</summary>
    static (int ExitCode, string Stdout, string Stderr) Ril(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                                                     StandardOutputEncoding = Encoding.UTF8 };
        foreach (var a in Processes.Ril.Skip(1).Concat(args)) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(120_000)) { process.Kill(true); throw new TimeoutException("ril template render"); }
        return (process.ExitCode, stdout, stderr.Result);
    }

    [Fact]
    public void Prints_the_rendered_conversation_exactly()
    {
        var messages = Messages("""[{"role": "user", "content": "  naïve “quoted” 'x' 数学 \\boxed{3} \n"}, {"role": "assistant", "content": "3"}, {"role": "user", "content": "Why?"}]""");
        var (code, stdout, stderr) = Ril("template", "render", "--model", Model(true), "--messages", messages, "--generation-prompt");
        Assert.True(code == 0, stderr);
        Assert.Equal("<bos><start_of_turn>user\nnaïve “quoted” 'x' 数学 \\boxed{3}<end_of_turn>\n<start_of_turn>model\n3<end_of_turn>\n" +
                     "<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n", stdout);

        (code, stdout, _) = Ril("template", "render", "--model", Model(true), "--messages", messages);
        Assert.Equal(0, code);
        Assert.EndsWith("Why?<end_of_turn>\n", stdout);
    }

    [Fact]
    public void A_conversation_the_template_rejects_exits_non_zero_with_its_message()
    {
        var messages = Messages("""[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]""");
        var (code, stdout, stderr) = Ril("template", "render", "--model", Model(true), "--messages", messages);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal("error: tokenizer_config.json, line 1: System role not supported", stderr.Trim());
    }

    [Fact]
    public void A_model_without_a_template_exits_non_zero()
    {
        var (code, _, stderr) = Ril("template", "render", "--model", Model(false), "--messages", Messages("[]"));
        Assert.Equal(1, code);
        Assert.Contains("has no chat template", stderr);
    }
}

using System.CommandLine;
using System.Net;
using Ril.Hub;
using Ril.Models;
using Ril.Server;

namespace Ril.Cli.Commands;

/// <summary>`ril serve`: a model directory behind an OpenAI-compatible HTTP API, for a judge, a teacher or the deployed student.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServerOptions();
        var model = new Option<string>("--model") { Description = $"Model: {ModelLocation.ArgumentDescription}, holding config.json, model.safetensors (or shards) and tokenizer.json", Required = true };
        var host = new Option<string>("--host") { Description = "Address to listen on (an IP address or localhost); other machines can reach it only if it is not loopback", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on; 0 picks a free one", DefaultValueFactory = _ => defaults.Port };
        var name = new Option<string?>("--name") { Description = "The model id clients use (default: the directory's name, or the Hub id)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Reply length when a request sets no max_tokens", DefaultValueFactory = _ => defaults.DefaultMaxTokens };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most samples generated together in one call", DefaultValueFactory = _ => defaults.MaxBatchSequences };
        var window = new Option<int>("--batch-window-ms") { Description = "How long an idle server waits for more requests to batch with the first", DefaultValueFactory = _ => (int)defaults.BatchWindow.TotalMilliseconds };
        var maxBody = new Option<int>("--max-body-mb") { Description = "Larger request bodies get 413", DefaultValueFactory = _ => (int)(defaults.MaxBodyBytes >> 20) };
        var maxN = new Option<int>("--max-n") { Description = "Most choices (n) one request may ask for", DefaultValueFactory = _ => defaults.Limits.MaxChoices };
        var maxTextKb = new Option<int>("--max-text-kb") { Description = "Most KiB (UTF-8) of message text in one request; more gets 413 before anything is tokenized", DefaultValueFactory = _ => (int)(defaults.Limits.MaxTextBytes >> 10) };
        var maxMessages = new Option<int>("--max-messages") { Description = "Most messages (and most content parts) in one request", DefaultValueFactory = _ => defaults.Limits.MaxMessages };
        var command = new Command("serve", "Serve a model directory over an OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions (streaming too).")
            { model, host, port, name, maxTokens, maxBatch, window, maxBody, maxN, maxTextKb, maxMessages };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var hostText = parse.GetValue(host)!;
            var address = hostText.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
                : IPAddress.TryParse(hostText, out var parsed) ? parsed
                : throw new ArgumentException($"--host '{hostText}' is not an IP address or localhost");
            if (parse.GetValue(maxBody) < 1) throw new ArgumentException($"--max-body-mb must be at least 1 (got {parse.GetValue(maxBody)})");
            if (parse.GetValue(maxN) < 1) throw new ArgumentException($"--max-n must be at least 1 (got {parse.GetValue(maxN)})");
            if (parse.GetValue(maxTextKb) < 1) throw new ArgumentException($"--max-text-kb must be at least 1 (got {parse.GetValue(maxTextKb)})");
            if (parse.GetValue(maxMessages) < 1) throw new ArgumentException($"--max-messages must be at least 1 (got {parse.GetValue(maxMessages)})");
            if (parse.GetValue(window) < 0) throw new ArgumentException($"--batch-window-ms must be at least 0 (got {parse.GetValue(window)})");
            var dir = parse.GetValue(model)!;
            Console.WriteLine($"loading {dir}");
            var folder = ModelArgument.Resolve(dir);
            var chat = ChatModel.Load(folder, frozen: true);
            var options = new ServerOptions
            {
                Host = address, Port = parse.GetValue(port), ModelName = parse.GetValue(name) ?? (folder != dir ? dir : null),   // a Hub id names the model, not its snapshot folder
                DefaultMaxTokens = parse.GetValue(maxTokens), MaxBatchSequences = parse.GetValue(maxBatch),
                BatchWindow = TimeSpan.FromMilliseconds(parse.GetValue(window)), MaxBodyBytes = (long)parse.GetValue(maxBody) << 20,
                Limits = defaults.Limits with
                {
                    MaxChoices = parse.GetValue(maxN), MaxTextBytes = (long)parse.GetValue(maxTextKb) << 10,
                    MaxMessages = parse.GetValue(maxMessages), MaxContentParts = parse.GetValue(maxMessages),
                },
            };
            Serve(chat, options).GetAwaiter().GetResult();
            return 0;
        }));
        return command;
    }

    static async Task Serve(ChatModel chat, ServerOptions options)
    {
        await using var server = new RilServer(chat, options);
        await server.StartAsync();
        if (!IPAddress.IsLoopback(options.Host))
            Console.WriteLine($"warning: listening on {options.Host}, not loopback: other machines can reach this server, and it has no authentication");
        Console.WriteLine($"serving '{server.ModelName}' ({(chat.AcceptsImages ? "text and images" : "text")}, context {chat.ContextLength} tokens) at {server.BaseUrl}");
        Console.WriteLine("press Ctrl+C to stop");
        await server.WaitForShutdownAsync();
        Console.WriteLine($"stopped; {server.Statistics.Requests} requests served in {server.Statistics.GenerateCalls} generation calls");
    }
}

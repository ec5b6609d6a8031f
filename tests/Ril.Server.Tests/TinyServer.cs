using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Server.Tests;

/// <summary>
/// A tiny random VLM (2 layers of width 32, an 8×8-pixel vision tower giving 4 image tokens) with the repository's
/// trained 512-token tokenizer, saved as a model directory and loaded back the way `ril serve` loads one.
/// </summary>
public static class TinyModel
{
    public static string TokenizerPath => Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer.json");

    /// <summary>Writes the model directory under <paramref name="parent"/> (its name is the model's id) and returns it.</summary>
    public static string Write(string parent, string name = "tiny-vlm", bool vision = true)
    {
        var dir = Path.Combine(parent, name);
        Directory.CreateDirectory(dir);
        File.Copy(TokenizerPath, Path.Combine(dir, "tokenizer.json"), overwrite: true);
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var config = new VlmConfig
        {
            Text = new DecoderConfig
            {
                VocabSize = tokenizer.VocabSize, HiddenSize = 32, IntermediateSize = 48, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2,
                MaxPositions = 2048,
            },
            Vision = vision ? new VisionConfig { HiddenSize = 16, IntermediateSize = 24, NumLayers = 1, NumHeads = 2, ImageSize = 8, PatchSize = 2 } : null,
            PixelShuffle = 2,
            ImageTokenId = tokenizer.SpecialTokenId("<|image_pad|>"),
        };
        var model = VisionLanguageModel.Create(config, new Rng(5));
        Checkpoint.Save(dir, model.ConfigJson(), model.Parameters());
        return dir;
    }

    public static ChatModel Load(string parent, string name = "tiny-vlm", bool vision = true) => ChatModel.Load(Write(parent, name, vision));
}

/// <summary>A started <see cref="RilServer"/> on a free loopback port with the tiny model, its log captured.</summary>
public sealed class TinyServer : IAsyncDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-serve-").FullName;
    readonly StringWriter _log = new();

    public RilServer Server { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };
    public string Log { get { lock (_log) return _log.ToString(); } }

    public static async Task<TinyServer> StartAsync(ServerOptions? options = null, bool vision = true)
    {
        var tiny = new TinyServer();
        var chat = TinyModel.Load(tiny._folder, vision: vision);
        tiny.Server = new RilServer(chat, (options ?? Defaults) with { Port = 0, Log = TextWriter.Synchronized(tiny._log) });
        await tiny.Server.StartAsync();
        return tiny;
    }

    /// <summary>Short replies and a small body limit, so tests are fast and an oversized body is cheap to send.</summary>
    public static ServerOptions Defaults => new() { DefaultMaxTokens = 12, MaxBodyBytes = 256 << 10, BatchWindow = TimeSpan.FromMilliseconds(20) };

    public string Url(string path) => Server.BaseUrl + path;

    public Task<HttpResponseMessage> PostAsync(string body, string path = "/chat/completions", CancellationToken cancellation = default) =>
        Http.PostAsync(Url(path), new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")), cancellation);

    /// <summary>A valid request body: one user message, the given extra fields.</summary>
    public string Body(string user = "What is 2 + 3?", JsonObject? extra = null)
    {
        var body = new JsonObject
        {
            ["model"] = Server.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = user }),
        };
        foreach (var (key, value) in extra ?? []) body[key] = value?.DeepClone();
        return body.ToJsonString();
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Http.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}

using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ril.Data.Images;
using Xunit.Abstractions;

namespace Ril.Server.Tests;

/// <summary>
/// `ril serve` under a hostile load, as its own process: decompression bombs inside and beyond the pixel budgets, requests
/// with many images, oversized bodies and over-long text, all at once and beside ordinary requests. The ordinary requests
/// are answered, each hostile one gets its 4xx, and the server's peak resident memory stays under a stated bound. Before
/// the budgets, one 1.4 MB bomb took the server to 9.5 GB.
/// </summary>
public sealed class BombLoadTests(ITestOutputHelper output) : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-serve-bombs-").FullName;
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>
    /// The bound: the server's own budgets allow 2 requests decoding at once, each at most 2 × 4096² pixels, a few bytes a
    /// pixel while decoding and resizing; with the runtime and the model, well under this. Generous on purpose: the peak
    /// depends on when the GC runs, and the test must not fail on that.
    /// </summary>
    const long BoundBytes = 1536L << 20;

    static JsonObject ImagePart(byte[] png) => new() { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(png) } };

    static string Request(IEnumerable<byte[]> images, string text = "What is this?") => new JsonObject
    {
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new JsonArray([.. images.Select(i => (JsonNode)ImagePart(i)), new JsonObject { ["type"] = "text", ["text"] = text }]) }),
        ["max_tokens"] = 4,
    }.ToJsonString();

    [Fact]
    public async Task Resident_memory_stays_bounded_under_bombs_many_images_and_oversized_bodies()
    {
        if (!OperatingSystem.IsLinux()) return;   // peak resident memory is read from /proc
        var bombInside = PngEncoder.Encode(new Image(4096, 4096, 3));   // 50 MB of pixels in a few hundred KB, inside the per-image budget
        var bombBeyond = PngEncoder.Encode(new Image(5000, 5000, 1));   // beyond it: refused from the header
        var small = PngEncoder.Encode(new Image(512, 512, 3));
        using var serve = await ServeProcess.StartAsync(TinyModel.Write(_folder), "--max-tokens", "4", "--max-body-mb", "4", "--max-text-kb", "64");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(120) };
        // The status, or 0 when the server cut the connection before the client had sent the whole body (its 413 unread).
        async Task<(int Status, string Body)> Post(string body)
        {
            try
            {
                using var response = await http.PostAsync(serve.BaseUrl + "/chat/completions", new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")));
                return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
            }
            catch (HttpRequestException e) when (e.InnerException is IOException) { return (0, e.Message); }
        }
        long before = serve.PeakResidentBytes();

        var load = new List<(string Kind, Task<(int Status, string Body)> Reply)>();
        for (int i = 0; i < 2; i++) load.Add(("a bomb inside the budgets", Post(Request([bombInside]))));
        load.Add(("two bombs inside the budgets", Post(Request([bombInside, bombInside]))));
        for (int i = 0; i < 4; i++) load.Add(("a bomb beyond the per-image budget", Post(Request([bombBeyond]))));
        for (int i = 0; i < 2; i++) load.Add(("eight images", Post(Request(Enumerable.Repeat(small, 8)))));
        for (int i = 0; i < 2; i++) load.Add(("nine images", Post(Request(Enumerable.Repeat(small, 9)))));
        for (int i = 0; i < 2; i++) load.Add(("an oversized body", Post(Request([], new string('x', 5 << 20)))));
        for (int i = 0; i < 2; i++) load.Add(("over-long text", Post(Request([], new string('x', 100 << 10)))));
        for (int i = 0; i < 4; i++) load.Add(("ordinary", Post(Request([small]))));
        await Task.WhenAll(load.Select(l => l.Reply));

        var expected = new Dictionary<string, int[]>
        {
            ["a bomb inside the budgets"] = [200],
            ["two bombs inside the budgets"] = [200],
            ["a bomb beyond the per-image budget"] = [400],
            ["eight images"] = [200],
            ["nine images"] = [400],
            ["an oversized body"] = [413, 0],
            ["over-long text"] = [413],
            ["ordinary"] = [200],
        };
        foreach (var (kind, reply) in load)
        {
            var (status, body) = await reply;
            Assert.True(expected[kind].Contains(status), $"{kind}: {status} {body}");
        }
        long peak = serve.PeakResidentBytes();
        output.WriteLine($"ril serve peak resident memory: {before >> 20} MB before the load, {peak >> 20} MB under it (bound {BoundBytes >> 20} MB; {load.Count} requests)");
        Assert.True(peak < BoundBytes, $"peak resident memory {peak >> 20} MB is over the bound of {BoundBytes >> 20} MB\n{serve.Output}");
    }
}

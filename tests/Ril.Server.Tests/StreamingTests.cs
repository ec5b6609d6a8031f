using System.Text;
using Ril.Models.Generation;
using Ril.Text;

namespace Ril.Server.Tests;

/// <summary>The pieces of streamed text, and the generator's per-token callback they come from.</summary>
public sealed class StreamingTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("ril-stream-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A decoder over UTF-8 bytes, one byte a token: a character cut inside its bytes shows U+FFFD, as byte-level BPE does.</summary>
    static string Bytes(int[] ids) => Encoding.UTF8.GetString(ids.Select(i => (byte)i).ToArray());

    static int[] Tokens(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();

    [Fact]
    public void Pieces_hold_back_cut_characters_and_possible_stop_strings_and_add_up_to_the_final_text()
    {
        var text = new StreamingText(Bytes, []);
        var pieces = Tokens("né→x").Select(text.Add).ToList();
        Assert.Equal(["n", "", "é", "", "", "→", "x"], pieces);
        Assert.Equal("", text.Finish("né→x"));

        // With the stop string "END", the last two characters wait: they may begin it.
        var stopped = new StreamingText(Bytes, ["END", "\n"]);
        var sent = new StringBuilder();
        foreach (var token in Tokens("abcEN")) sent.Append(stopped.Add(token));
        Assert.Equal("abc", sent.ToString());
        sent.Append(stopped.Finish("abc"));       // the generator cut the text before "END"
        Assert.Equal("abc", sent.ToString());

        var unfinished = new StreamingText(Bytes, ["END"]);
        foreach (var token in Tokens("abcEN")) unfinished.Add(token);
        Assert.Equal("EN", unfinished.Finish("abcEN"));   // ended by length: the held-back text is sent at the end
    }

    [Fact]
    public void The_generator_reports_each_token_as_sampled_and_the_reports_match_its_result()
    {
        var chat = TinyModel.Load(_folder);
        var generator = chat.NewGenerator();
        var requests = new[]
        {
            chat.Request(chat.EncodeChat([ChatMessage.User("Hello there")]), [], numSamples: 2, seed: 3),
            chat.Request(chat.EncodeChat([ChatMessage.User("A longer question about the numbers 1, 2 and 3?")]), [], numSamples: 1, seed: 9),
        };
        var options = new SamplingOptions { MaxNewTokens = 12, StopTokens = chat.StopTokens };
        var seen = new[] { new List<int>[] { [], [] }, new List<int>[] { [] } };
        var results = generator.Generate(requests, options, (request, sample, token) => seen[request][sample].Add(token));
        for (int r = 0; r < requests.Length; r++)
            for (int s = 0; s < results[r].Count; s++)
            {
                Assert.Equal(results[r][s].TokenIds, seen[r][s]);
                Assert.Equal(results[r][s].Text, chat.Decode([.. seen[r][s]]));
            }
        // Without a callback, the same result: the callback only watches.
        var quiet = generator.Generate(requests, options);
        Assert.Equal(results.SelectMany(r => r).Select(s => s.TokenIds), quiet.SelectMany(r => r).Select(s => s.TokenIds));
    }
}

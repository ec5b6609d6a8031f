using Ril.Models.Generation;

namespace Ril.Tests.Models;

/// <summary>generation_config.json: read as released checkpoints write it; the user's settings win, then the checkpoint's, then Ril's.</summary>
public sealed class GenerationDefaultsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-genconfig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    GenerationDefaults Write(string json)
    {
        File.WriteAllText(Path.Combine(_dir, "generation_config.json"), json);
        return GenerationDefaults.Load(_dir);
    }

    [Fact]
    public void A_released_config_gives_its_defaults_and_eos_ids()
    {
        // The shape of Qwen2.5-VL-3B-Instruct's file.
        var d = Write("""{"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643], "repetition_penalty": 1.05, "temperature": 0.1, "top_p": 0.001, "top_k": 1, "transformers_version": "4.49.0"}""");
        var o = d.Resolve(null, null, null, null, null, [7]);
        Assert.Equal((0.1f, 0.001f, 1, 1.05f, 256), (o.Temperature, o.TopP, o.TopK, o.RepetitionPenalty, o.MaxNewTokens));
        Assert.Equal([7, 151645, 151643], o.StopTokens);
    }

    [Fact]
    public void What_the_user_sets_wins_and_do_sample_false_is_greedy()
    {
        var d = Write("""{"do_sample": false, "temperature": 0.7, "top_k": 20, "max_new_tokens": 64, "eos_token_id": 2}""");
        var o = d.Resolve(null, 0.9f, null, 1.2f, null, []);
        Assert.Equal((0f, 0.9f, 20, 1.2f, 64), (o.Temperature, o.TopP, o.TopK, o.RepetitionPenalty, o.MaxNewTokens));
        Assert.Equal([2], o.StopTokens);
        Assert.Equal(0.5f, d.Resolve(0.5f, null, null, null, 8, []).Temperature);
    }

    [Fact]
    public void No_file_leaves_Ril_defaults_and_a_bad_field_names_the_file_and_field()
    {
        var none = GenerationDefaults.Load(_dir);
        Assert.Same(GenerationDefaults.None, none);
        var o = none.Resolve(null, null, null, null, null, [3], new SamplingOptions { Temperature = 0f, MaxNewTokens = 9 });
        Assert.Equal((0f, 1f, 0, 1f, 9), (o.Temperature, o.TopP, o.TopK, o.RepetitionPenalty, o.MaxNewTokens));

        var e = Assert.Throws<InvalidDataException>(() => Write("""{"temperature": "hot"}"""));
        Assert.Contains("generation_config.json", e.Message);
        Assert.Contains("'temperature'", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Write("""{"eos_token_id": ["x"]}"""));
        Assert.Contains("'eos_token_id'", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Write("{\n\"top_k\": 1,\n}"));
        Assert.Contains("generation_config.json:", e.Message);
    }
}

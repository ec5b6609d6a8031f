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

/// <summary>
/// Sampling from hostile settings or a diverged model: before these tests, NaN logits threw IndexOutOfRangeException in
/// the sampler, a temperature of 1e-30 or a repetition penalty of 1e-30 produced non-finite probabilities, and a negative
/// temperature was accepted.
/// </summary>
public sealed class HostileSamplingTests
{
    static readonly float[] Logits = [1f, 3f, 2f, -1f];

    [Fact]
    public void Non_finite_logits_are_named_errors()
    {
        foreach (var bad in new[] { float.NaN, float.PositiveInfinity })
        {
            var logits = (float[])Logits.Clone();
            logits[2] = bad;
            var e = Assert.Throws<NonFiniteLogitsException>(() => TokenSampler.Next(logits, new SamplingOptions(), [], new Ril.Tensors.Rng(1)));
            Assert.Contains("diverged", e.Message);
        }
        Assert.Throws<NonFiniteLogitsException>(() => TokenSampler.Next(Enumerable.Repeat(float.NegativeInfinity, 4).ToArray(), new SamplingOptions(), [], new Ril.Tensors.Rng(1)));
    }

    [Fact]
    public void Tiny_temperatures_and_penalties_still_choose_a_real_token()
    {
        for (ulong seed = 0; seed < 20; seed++)
        {
            Assert.Equal(1, TokenSampler.Next((float[])Logits.Clone(), new SamplingOptions { Temperature = 1e-30f }, [], new Ril.Tensors.Rng(seed)));
            Assert.Equal(1, TokenSampler.Next((float[])Logits.Clone(), new SamplingOptions { Temperature = 2e-5f }, [], new Ril.Tensors.Rng(seed)));
            int token = TokenSampler.Next((float[])Logits.Clone(), new SamplingOptions { RepetitionPenalty = 1e-30f }, [0, 3], new Ril.Tensors.Rng(seed));
            Assert.Equal(0, token);   // 1/1e-30 makes token 0 the only likely one; −1·1e-30 leaves token 3 near 0
        }
    }

    [Fact]
    public void Negative_or_non_finite_settings_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = -0.5f }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = float.NaN }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopP = float.NaN }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { RepetitionPenalty = float.PositiveInfinity }.Validate());
    }
}

using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;

namespace Ril.Tests.Models;

public class ModelTests
{
    static readonly DecoderConfig Tiny = new()
    {
        VocabSize = 50, HiddenSize = 32, IntermediateSize = 48, NumLayers = 2, NumHeads = 4, NumKvHeadsField = 2, AttentionBias = true, RopeTheta = 10000f,
    };

    static VisionLanguageModel TinyModel(ulong seed = 1)
    {
        var m = VisionLanguageModel.Create(Tiny, null, 1, imageTokenId: 49, new Rng(seed));
        // Larger random weights than the 0.02 init, so logits are far from uniform and greedy choices are clear.
        var rng = new Rng(seed + 100);
        foreach (var p in m.Parameters()) if (p.Rank == 2) rng.FillNormal(p.Data, 0.3f);
        return m;
    }

    [Fact]
    public void Kv_cache_decoding_gives_the_logits_of_a_full_forward()
    {
        var model = TinyModel();
        var lm = model.Text;
        int[] ids = [3, 14, 15, 9, 2, 6, 5, 35];
        using var _ = NoGrad.Begin();
        var full = lm.Logits(ids, 1);
        var cache = lm.NewCache(1, 16);
        var parts = new List<float[]> { lm.Head(lm.Forward(lm.Embed(ids[..5], 1), cache: cache)).ToArray() };
        for (int t = 5; t < ids.Length; t++) parts.Add(lm.Head(lm.Forward(lm.Embed([ids[t]], 1), cache: cache)).ToArray());
        var stepped = parts.SelectMany(p => p).ToArray();
        Assert.Equal(full.Length, stepped.Length);
        for (int i = 0; i < stepped.Length; i++) Assert.True(Math.Abs(full.Data[i] - stepped[i]) < 1e-4f, $"logit {i}: full {full.Data[i]}, cached {stepped[i]}");
    }

    [Fact]
    public void Batched_greedy_generation_equals_one_by_one()
    {
        var gen = new Generator(TinyModel());
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 12, StopTokens = [7] };
        GenerationRequest[] requests = [new([1, 2, 3]), new([4, 5, 6, 7, 8, 9, 10]), new([11]), new([12, 13, 14, 15, 16])];
        var batched = gen.Generate(requests, options);
        for (int i = 0; i < requests.Length; i++)
        {
            var alone = gen.Generate([requests[i]], options)[0][0];
            Assert.Equal(alone.TokenIds, batched[i][0].TokenIds);
            Assert.Equal(alone.FinishReason, batched[i][0].FinishReason);
            for (int t = 0; t < alone.LogProbs.Length; t++) Assert.Equal(alone.LogProbs[t], batched[i][0].LogProbs[t], 4);
        }
        Assert.Contains(batched, r => r[0].TokenIds.Length > 3);   // the test means something only if some responses are long
    }

    /// <summary>
    /// Sequences that stop leave the decoding batch (their KV-cache rows dropped in place): the others continue exactly
    /// as they would alone, sampled at T = 1 with several samples per prompt, whichever rows finished before them.
    /// </summary>
    [Fact]
    public void Finished_samples_leave_the_batch_without_changing_the_others()
    {
        var gen = new Generator(TinyModel(2));
        GenerationRequest[] requests = [new([1, 2, 3], 3, 10), new([4, 5, 6, 7, 8], 2, 20), new([11], 3, 30)];
        var free = gen.Generate(requests, new SamplingOptions { Temperature = 1, MaxNewTokens = 10 });
        // A stop token that some sample draws early and others do not draw at all.
        int stop = free.SelectMany(r => r).Select(s => s.TokenIds[2]).First(t => free.SelectMany(r => r).Any(s => !s.TokenIds.Contains(t)));
        var options = new SamplingOptions { Temperature = 1, MaxNewTokens = 10, StopTokens = [stop] };
        var batched = gen.Generate(requests, options);
        var lengths = batched.SelectMany(r => r).Select(s => s.TokenIds.Length).ToList();
        Assert.Contains(lengths, l => l <= 3);
        Assert.Contains(lengths, l => l == 10);
        for (int i = 0; i < requests.Length; i++)
        {
            var alone = gen.Generate([requests[i]], options)[0];
            for (int s = 0; s < alone.Count; s++)
            {
                Assert.Equal(alone[s].TokenIds, batched[i][s].TokenIds);
                Assert.Equal(alone[s].FinishReason, batched[i][s].FinishReason);
                for (int t = 0; t < alone[s].LogProbs.Length; t++) Assert.True(MathF.Abs(alone[s].LogProbs[t] - batched[i][s].LogProbs[t]) < 1e-4f);
            }
        }
    }

    /// <summary>The rows of a decoding step are drawn on every thread of the pool: one thread or three give the same
    /// tokens, log-probs and entropies, bit for bit, for every sampler path (vocabulary order, ranked with top-k/top-p).</summary>
    [Fact]
    public void Samples_do_not_depend_on_the_threads_that_draw_them()
    {
        var gen = new Generator(TinyModel(2));
        GenerationRequest[] requests = [new([1, 2, 3], NumSamples: 4, Seed: 10), new([5, 6], NumSamples: 3, Seed: 20)];
        foreach (var options in new[]
                 {
                     new SamplingOptions { Temperature = 1f, MaxNewTokens = 10, RecordEntropy = true },
                     new SamplingOptions { Temperature = 0.7f, TopP = 0.9f, TopK = 20, RepetitionPenalty = 1.05f, MaxNewTokens = 10, RecordEntropy = true },
                 })
        {
            int threads = Ril.Tensors.Kernels.WorkerPool.Shared.Threads;
            IReadOnlyList<IReadOnlyList<GeneratedSequence>> one, three;
            try
            {
                Ril.Tensors.Kernels.WorkerPool.SetThreads(1);
                one = gen.Generate(requests, options);
                Ril.Tensors.Kernels.WorkerPool.SetThreads(3);
                three = gen.Generate(requests, options);
            }
            finally { Ril.Tensors.Kernels.WorkerPool.SetThreads(threads); }
            var a = one.SelectMany(r => r).ToList();
            var b = three.SelectMany(r => r).ToList();
            Assert.True(a.Select(x => string.Join(",", x.TokenIds)).Distinct().Count() > 1, "the samples should differ from each other");
            for (int i = 0; i < a.Count; i++)
            {
                Assert.Equal(a[i].TokenIds, b[i].TokenIds);
                Assert.Equal(a[i].LogProbs, b[i].LogProbs);
                Assert.Equal(a[i].Entropies, b[i].Entropies);
            }
        }
    }

    [Fact]
    public void Samples_depend_on_their_seed_not_on_the_batch_or_the_fork()
    {
        var gen = new Generator(TinyModel(2));
        var options = new SamplingOptions { Temperature = 1f, TopP = 0.95f, TopK = 20, RepetitionPenalty = 1.05f, MaxNewTokens = 10 };
        var together = gen.Generate([new([1, 2, 3], NumSamples: 4, Seed: 10), new([5, 6], NumSamples: 2, Seed: 20)], options);
        var alone = gen.Generate([new([1, 2, 3], NumSamples: 4, Seed: 10)], options);
        for (int s = 0; s < 4; s++) Assert.Equal(alone[0][s].TokenIds, together[0][s].TokenIds);
        Assert.True(together[0].Select(x => string.Join(",", x.TokenIds)).Distinct().Count() > 1, "four samples at T=1 should not all coincide");
        // Logged log-probs are the model's: recompute them with a full forward of prompt + response.
        var seq = together[0][1];
        var ids = new[] { 1, 2, 3 }.Concat(seq.TokenIds).ToArray();
        using var _ = NoGrad.Begin();
        var logits = ((VisionLanguageModel)gen.Model).Logits(ids, 1);
        for (int t = 0; t < seq.TokenIds.Length; t++)
        {
            var row = logits.Data.Slice((2 + t) * Tiny.VocabSize, Tiny.VocabSize);
            float expected = row[seq.TokenIds[t]] - Ops.LogSumExp(row);
            Assert.Equal(expected, seq.LogProbs[t], 3);
        }
    }

    [Fact]
    public void Sampler_rules()
    {
        float[] logits = [1f, 3f, 2f, -1f];
        var rng = new Rng(1);
        Assert.Equal(1, TokenSampler.Next((float[])logits.Clone(), new SamplingOptions { Temperature = 0 }, [], rng));
        Assert.Equal(1, TokenSampler.Next((float[])logits.Clone(), new SamplingOptions { TopK = 1 }, [], rng));
        Assert.Equal(1, TokenSampler.Next((float[])logits.Clone(), new SamplingOptions { TopP = 0.001f, Temperature = 0.01f }, [], rng));
        // A penalty of 2 on token 1 (3 → 1.5) makes token 2 the greedy choice.
        Assert.Equal(2, TokenSampler.Next((float[])logits.Clone(), new SamplingOptions { Temperature = 0, RepetitionPenalty = 2f }, [1], rng));
        // Frequencies at T = 1 follow the softmax.
        var counts = new int[4];
        for (int i = 0; i < 20000; i++) counts[TokenSampler.Next((float[])logits.Clone(), new SamplingOptions(), [], rng)]++;
        var p = logits.Select(x => Math.Exp(x)).ToArray(); double z = p.Sum();
        for (int i = 0; i < 4; i++) Assert.True(Math.Abs(counts[i] / 20000.0 - p[i] / z) < 0.015, $"token {i}: {counts[i] / 20000.0:F3} vs {p[i] / z:F3}");
        // top-k 2 never draws the others.
        for (int i = 0; i < 500; i++) Assert.Contains(TokenSampler.Next((float[])logits.Clone(), new SamplingOptions { TopK = 2 }, [], rng), new[] { 1, 2 });
        // At T = 0.5 without top-k or top-p (the unranked draw): frequencies follow softmax(l / T), a −∞ logit is never
        // drawn, and the ranked draw (top-p just below 1, so nothing is cut) gives the same frequencies.
        float[] masked = [1f, 3f, 2f, float.NegativeInfinity, 2.5f];
        var expected = masked.Select(x => Math.Exp(x / 0.5)).ToArray(); double sum = expected.Sum();
        foreach (var options in new[] { new SamplingOptions { Temperature = 0.5f }, new SamplingOptions { Temperature = 0.5f, TopP = 0.999999f } })
        {
            var seen = new int[5];
            for (int i = 0; i < 20000; i++) seen[TokenSampler.Next((float[])masked.Clone(), options, [], rng)]++;
            Assert.Equal(0, seen[3]);
            for (int i = 0; i < 5; i++) Assert.True(Math.Abs(seen[i] / 20000.0 - expected[i] / sum) < 0.015, $"top_p {options.TopP}, token {i}: {seen[i] / 20000.0:F3} vs {expected[i] / sum:F3}");
        }
    }

    [Fact]
    public void Checkpoints_round_trip_and_name_what_is_wrong()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-ckpt-{Guid.NewGuid():N}");
        try
        {
            var a = TinyModel(3);
            Checkpoint.Save(dir, new JsonObject { ["hidden_size"] = 32 }, a.Parameters());
            var b = TinyModel(4);
            var unused = Checkpoint.LoadInto(b.Parameters(), Checkpoint.ReadTensors(dir), dir);
            Assert.Empty(unused);
            foreach (var (pa, pb) in a.Parameters().Zip(b.Parameters())) Assert.Equal(pa.ToArray(), pb.ToArray());

            var tensors = Checkpoint.ReadTensors(dir);
            tensors.Remove("model.layers.1.mlp.up_proj.weight");
            var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadInto(b.Parameters(), tensors, dir));
            Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
            Assert.Contains("[48, 32]", e.Message);

            tensors = Checkpoint.ReadTensors(dir);
            tensors["lm_head.weight"] = new SafeTensorEntry("lm_head.weight", [50, 31], new float[50 * 31]);
            e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadInto(b.Parameters(), tensors, dir));
            Assert.Contains("[50, 31]", e.Message);
            Assert.Contains("[50, 32]", e.Message);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>
    /// A BF16 checkpoint read straight into the parameters (LoadAll): widened to float32, or kept in bf16 for a run that
    /// does not train, gives the same values and the same logits (the bf16 products are bit-identical to float32 ones on
    /// the widened weights); a missing or leftover tensor is still named; shards load through their index.
    /// </summary>
    [Fact]
    public void Bf16_checkpoints_load_in_place_widened_or_kept_in_bf16()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-bf16-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var source = new DecoderLM(Tiny, new Rng(8), initStd: 0.3f);
            var all = source.Parameters().Select(p => new SafeTensorEntry(p.Name!, p.Shape, p.ToArray())).ToList();
            int half = all.Count / 2;
            SafeTensors.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), all[..half], bf16: true);
            SafeTensors.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), all[half..], bf16: true);
            var map = new JsonObject();
            for (int i = 0; i < all.Count; i++) map[all[i].Name] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["weight_map"] = map }.ToJsonString());

            var widened = new DecoderLM(Tiny, rng: null);
            Checkpoint.LoadAll(widened.Parameters(), dir);
            var kept = new DecoderLM(Tiny, rng: null);
            Checkpoint.LoadAll(kept.Parameters(), dir, keepBf16: true);
            foreach (var (s, w, k) in source.Parameters().Zip(widened.Parameters(), kept.Parameters()))
            {
                var rounded = s.ToArray().Select(v => Ril.Tensors.Kernels.BFloat16.ToFloat(Ril.Tensors.Kernels.BFloat16.FromFloat(v))).ToArray();
                Assert.Equal(rounded, w.ToArray());
                Assert.Equal(rounded, k.ToArray());
                Assert.False(w.IsBf16);
                Assert.Equal(s.Rank == 2, k.IsBf16);
            }
            int[] ids = [3, 14, 15, 9, 26, 5, 35, 8];
            using (NoGrad.Begin())
                foreach (int rows in new[] { 1, 2, 4, 8 })
                {
                    var (expected, actual) = (widened.Logits(ids[..rows], rows).ToArray(), kept.Logits(ids[..rows], rows).ToArray());
                    // Up to four rows the bf16 products do the float32 path's arithmetic; beyond, they group their sums
                    // otherwise (32 weights a step, split even/odd), so the logits agree to rounding, not to the bit.
                    if (rows <= 4) Assert.Equal(expected, actual);
                    else Assert.True(ParityMetric.WorstRelative(actual, expected) <= 1e-4, $"{rows} rows: worst relative {ParityMetric.WorstRelative(actual, expected):E2}");
                }

            var bigger = new DecoderLM(Tiny with { NumLayers = 3 }, rng: null);
            var e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadAll(bigger.Parameters(), dir));
            Assert.Contains("model.layers.2.", e.Message);
            var smaller = new DecoderLM(Tiny with { NumLayers = 1 }, rng: null);
            e = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadAll(smaller.Parameters(), dir));
            Assert.Contains("fit no parameter", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Sharded_checkpoints_load_through_their_index()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-shard-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var a = TinyModel(5);
            var all = a.Parameters().Select(p => new SafeTensorEntry(p.Name!, p.Shape, p.ToArray())).ToList();
            int half = all.Count / 2;
            SafeTensors.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), all[..half]);
            SafeTensors.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), all[half..]);
            var map = new JsonObject();
            for (int i = 0; i < all.Count; i++) map[all[i].Name] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
            var b = TinyModel(6);
            Checkpoint.LoadInto(b.Parameters(), Checkpoint.ReadTensors(dir), dir);
            foreach (var (pa, pb) in a.Parameters().Zip(b.Parameters())) Assert.Equal(pa.ToArray(), pb.ToArray());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Vlm_fills_image_placeholders_and_trains_its_vision_tower()
    {
        var vision = new VisionConfig { HiddenSize = 16, IntermediateSize = 24, NumLayers = 1, NumHeads = 2, ImageSize = 8, PatchSize = 2 };
        var vlm = VisionLanguageModel.Create(Tiny, vision, pixelShuffle: 2, imageTokenId: 49, new Rng(7));
        Assert.Equal(4, vlm.TokensPerImage);   // 4×4 patches, shuffled 2×2 → 4 tokens
        var pixels = Tensor.Randn(new Rng(8), 1f, 1, 3, 8, 8);
        int[] ids = [1, 49, 49, 49, 49, 2, 3];
        var loss = Ops.CrossEntropy(vlm.Logits(ids, 1, pixels), [-100, -100, -100, -100, -100, 3, 4]);
        loss.Backward();
        Assert.True(vlm.Vision!.PatchWeight.Grad!.ToArray().Any(v => v != 0), "no gradient reached the vision tower");
        var e = Assert.Throws<ArgumentException>(() => vlm.Logits([1, 49, 2], 1, pixels));
        Assert.Contains("1 image placeholder", e.Message);
        Assert.Contains("4 feature rows", e.Message);
    }

    [Fact]
    public void Scalar_head_ignores_right_padding()
    {
        var backbone = TinyModel(9).Text;
        var d = new ScalarHeadModel(backbone, new Rng(10));
        using var _ = NoGrad.Begin();
        var short1 = d.Forward([5, 6, 7], 1, [3]).Item();
        var padded = d.Forward([5, 6, 7, 0, 0, 1, 2, 3, 4, 8], 2, [3, 5]);
        Assert.Equal(short1, padded.Data[0], 5);
        Assert.DoesNotContain(d.Parameters(), p => ReferenceEquals(p, backbone.LmHead));
    }

    [Fact]
    public void Model_directories_round_trip_with_their_vision_tower()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ril-vlm-{Guid.NewGuid():N}");
        try
        {
            var config = new VlmConfig
            {
                Text = Tiny, PixelShuffle = 2, ImageTokenId = 49,
                Vision = new VisionConfig { HiddenSize = 16, IntermediateSize = 24, NumLayers = 1, NumHeads = 2, ImageSize = 8, PatchSize = 2 },
            };
            var a = VisionLanguageModel.Create(config.Text, config.Vision, config.PixelShuffle, config.ImageTokenId, new Rng(11));
            Checkpoint.Save(dir, a.ConfigJson(), a.Parameters());
            var b = RilVlmFamily.LoadModel(dir);
            var loaded = b.Config;
            Assert.Equal(config.Vision, loaded.Vision);
            Assert.Equal(2, loaded.PixelShuffle);
            foreach (var (pa, pb) in a.Parameters().Zip(b.Parameters())) Assert.Equal(pa.ToArray(), pb.ToArray());
            File.WriteAllText(Path.Combine(dir, "config.json"), """{"text_config": {"hidden_size": 30, "num_attention_heads": 4}}""");
            var e = Assert.Throws<InvalidDataException>(() => RilVlmFamily.LoadModel(dir));
            Assert.Contains("hidden_size", e.Message);
            Assert.Contains("config.json", e.Message);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}

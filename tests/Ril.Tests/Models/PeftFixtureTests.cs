using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tests.Data;

namespace Ril.Tests.Models;

/// <summary>
/// The golden PEFT adapter fixture tests/fixtures/models/qwen2-tiny-lora/: a LoRA adapter that Ril writes with
/// <see cref="PeftAdapter.Save"/> for the qwen2-tiny checkpoint (r 4, alpha 8, every projection of every layer, A and B
/// drawn from a seeded <see cref="Rng"/>, B nonzero so that the adapter changes the output), and ril_logits.safetensors:
/// Ril's float32 logits [18, 97] of the adapted model on qwen2-tiny's parity input_ids [2, 9].
///
/// tests/fixtures/check_with_transformers.py loads the adapter with PEFT's PeftModel.from_pretrained on transformers'
/// Qwen2ForCausalLM and compares its logits with these. This test keeps the committed files exactly what Ril writes:
/// with RIL_WRITE_FIXTURES=1 it (re)writes them; otherwise it writes the adapter to a temporary folder and requires the
/// same bytes as the committed files, and logits equal to the committed ones.
/// </summary>
public sealed class PeftFixtureTests : IDisposable
{
    static string BaseDir => Path.Combine(RepoPaths.Fixtures, "models", "qwen2-tiny");
    static string AdapterDir => Path.Combine(RepoPaths.Fixtures, "models", "qwen2-tiny-lora");
    const string LogitsFile = "ril_logits.safetensors";

    readonly string _tmp = Path.Combine(Path.GetTempPath(), $"ril-peft-fixture-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true); }

    [Fact]
    public void Qwen2_tiny_lora_fixture_is_what_ril_writes()
    {
        var config = DecoderConfig.Load(Path.Combine(BaseDir, "config.json"));
        var model = new DecoderLM(config, new Rng(1));
        var unused = Checkpoint.LoadInto(model.Parameters(), Checkpoint.ReadTensors(BaseDir), BaseDir);
        Assert.True(unused.Count == 0, $"{BaseDir}: tensors no parameter took: {string.Join(", ", unused)}");

        var input = SafeTensors.Read(Path.Combine(BaseDir, "parity.safetensors"))["input_ids"];
        int[] ids = input.Data.Select(v => (int)MathF.Round(v)).ToArray();
        int batch = input.Shape[0];
        float[] baseLogits;
        using (NoGrad.Begin()) baseLogits = model.Logits(ids, batch).ToArray();

        var adapters = LoraAdapters.Attach(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = LoraConfig.AllProjections }, new Rng(41));
        Assert.Equal(config.NumLayers * LoraConfig.AllProjections.Count, adapters.All.Count);
        var rng = new Rng(42);
        foreach (var a in adapters.All)   // uniform draws only: pure arithmetic, the same bits on every machine
        {
            rng.FillUniform(a.A.Data, -0.3f, 0.3f);
            rng.FillUniform(a.B.Data, -0.1f, 0.1f);
        }
        Tensor logits;
        using (NoGrad.Begin()) logits = model.Logits(ids, batch);
        var adapted = logits.ToArray();
        Assert.Equal(new[] { ids.Length, config.VocabSize }, logits.Shape);
        float change = adapted.Zip(baseLogits, (x, y) => MathF.Abs(x - y)).Max();
        Assert.True(change > 0.05f, $"the adapter moves the logits by at most {change:G3}: too little for the fixture to tell");

        if (Environment.GetEnvironmentVariable("RIL_WRITE_FIXTURES") == "1")
        {
            WriteFixture(AdapterDir, adapters, input, logits);
            return;
        }

        Assert.True(Directory.Exists(AdapterDir), $"{AdapterDir} is missing: run this test once with RIL_WRITE_FIXTURES=1");
        WriteFixture(_tmp, adapters, input, logits);
        Assert.Equal(File.ReadAllBytes(Path.Combine(AdapterDir, PeftAdapter.WeightsFile)), File.ReadAllBytes(Path.Combine(_tmp, PeftAdapter.WeightsFile)));
        static string Text(string path) => File.ReadAllText(path).ReplaceLineEndings("\n");
        Assert.Equal(Text(Path.Combine(AdapterDir, PeftAdapter.ConfigFile)), Text(Path.Combine(_tmp, PeftAdapter.ConfigFile)));

        // The logits may move in the last bits when a kernel changes its summation order; the adapter's bytes may not.
        var committed = SafeTensors.Read(Path.Combine(AdapterDir, LogitsFile));
        Assert.Equal(input.Data, committed["input_ids"].Data);
        Assert.Equal(logits.Shape, committed["logits"].Shape);
        var expected = committed["logits"].Data;
        float scale = MathF.Max(1f, expected.Max(MathF.Abs));
        float worst = adapted.Zip(expected, (x, y) => MathF.Abs(x - y)).Max();
        Assert.True(worst <= 1e-5f * scale, $"Ril's adapted logits moved by {worst:G3} from {LogitsFile} (allowed {1e-5f * scale:G3})");
    }

    static void WriteFixture(string dir, LoraAdapters adapters, SafeTensorEntry input, Tensor logits)
    {
        PeftAdapter.Save(dir, adapters, PeftAdapter.CausalLm);
        SafeTensors.Write(Path.Combine(dir, LogitsFile),
            [new SafeTensorEntry("input_ids", input.Shape, input.Data), new SafeTensorEntry("logits", logits.Shape, logits.ToArray())],
            new Dictionary<string, string> { ["source"] = "tests/Ril.Tests/Models/PeftFixtureTests.cs" });
    }
}

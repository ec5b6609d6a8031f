using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Models;

/// <summary>
/// The golden PEFT adapter fixtures under tests/fixtures/models/, each a LoRA adapter that Ril writes with
/// <see cref="PeftAdapter.Save"/> (r 4, alpha 8, every projection of every decoder layer, A and B drawn from a seeded
/// <see cref="Rng"/>, B nonzero so that the adapter changes the output) together with Ril's float32 outputs of the adapted
/// model on the base checkpoint's parity inputs:
/// <list type="bullet">
/// <item>qwen2-tiny-lora: the student on qwen2-tiny (CAUSAL_LM); ril_logits.safetensors, logits [18, 97] of input_ids [2, 9].</item>
/// <item>qwen2-tiny-discriminator-lora: RIL's discriminator as `ril train` saves a LoRA one (SEQ_CLS, modules_to_save
/// ["score"]: the adapters and the seeded scalar head); ril_scores.safetensors, the raw scores (logits before the sigmoid)
/// [2] of qwen2-tiny's two parity rows, each one sequence read at its last token.</item>
/// <item>qwen3-vl-tiny-lora, qwen2-vl-tiny-lora: the student on a VLM's language model (CAUSAL_LM; both files name the
/// decoder model.language_model.*, transformers' place for it, though Qwen2-VL's checkpoint says model.*); ril_logits.safetensors, the
/// logits of the folder's parity input_ids with its image (pixel_values, image_grid_thw of parity.safetensors).</item>
/// </list>
/// tests/fixtures/check_with_transformers.py loads each adapter with PEFT's PeftModel.from_pretrained on transformers'
/// class (Qwen2ForCausalLM, Qwen2ForSequenceClassification, Qwen3VLForConditionalGeneration,
/// Qwen2VLForConditionalGeneration) and compares its outputs with these. This test keeps the committed files exactly what
/// Ril writes: with RIL_WRITE_FIXTURES=1 it (re)writes them; otherwise it writes them to a temporary folder and requires
/// the same adapter bytes as the committed files, and outputs equal to the committed ones.
/// </summary>
public sealed class PeftFixtureTests : IDisposable
{
    static string Dir(string name) => Path.Combine(RepoPaths.Fixtures, "models", name);
    static string BaseDir => Dir("qwen2-tiny");
    const string LogitsFile = "ril_logits.safetensors", ScoresFile = "ril_scores.safetensors";
    static readonly LoraConfig Lora = new() { Rank = 4, Alpha = 8, TargetModules = LoraConfig.AllProjections };

    readonly string _tmp = Path.Combine(Path.GetTempPath(), $"ril-peft-fixture-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true); }

    [Fact]
    public void Qwen2_tiny_lora_fixture_is_what_ril_writes()
    {
        var (model, config) = LoadQwen2Tiny();
        var input = SafeTensors.Read(Path.Combine(BaseDir, "parity.safetensors"))["input_ids"];
        int[] ids = Ints(input);
        int batch = input.Shape[0];
        float[] baseLogits;
        using (NoGrad.Begin()) baseLogits = model.Logits(ids, batch).ToArray();

        var adapters = Seeded(LoraAdapters.Attach(model, Lora, new Rng(41)), config.NumLayers, seed: 42);
        Tensor logits;
        using (NoGrad.Begin()) logits = model.Logits(ids, batch);
        Assert.Equal(new[] { ids.Length, config.VocabSize }, logits.Shape);
        AssertMoves(logits.ToArray(), baseLogits, "logits");

        WriteOrCompare("qwen2-tiny-lora", dir => PeftAdapter.Save(dir, adapters, PeftAdapter.CausalLm), LogitsFile, input, "logits", logits);
    }

    /// <summary>
    /// The discriminator as RIL builds a LoRA one (<see cref="Discriminator.FromStudentWithLora"/>: the student's frozen
    /// qwen2-tiny decoder shared, adapters of its own and the scalar head) and saves it (the train command's
    /// <c>PeftAdapter.Save(dir, d.Adapters, SequenceClassification, …, [d.Model.Score])</c>). Its scores are read at each
    /// row's last token, the position transformers' Qwen2ForSequenceClassification pools when no padding token is present.
    /// </summary>
    [Fact]
    public void Qwen2_tiny_discriminator_lora_fixture_is_what_ril_writes()
    {
        var (decoder, config) = LoadQwen2Tiny();
        var student = new ChatModel(decoder, new ChatMlProcessor(BpeTokenizer.Load(TinyModels.TokenizerPath)));
        decoder.AttachLora(Lora, new Rng(40));   // RIL shares the student's base only when the student trains through adapters
        var d = Discriminator.FromStudentWithLora(student, Lora, new Rng(41), DiscriminatorInput.Response, maxResponseTokens: 16);
        var adapters = Seeded(d.Adapters!, config.NumLayers, seed: 142);
        Assert.Equal(new[] { 1, config.HiddenSize }, d.Model.Score.Shape);
        new Rng(43).FillUniform(d.Model.Score.Data, -0.3f, 0.3f);

        var input = SafeTensors.Read(Path.Combine(BaseDir, "parity.safetensors"))["input_ids"];
        var rows = Ints(input).Chunk(input.Shape[1]).ToList();
        Tensor Scores() => d.Model.Forward(rows, student.PadId, sharePrefix: false);
        float[] baseScores;
        Tensor scores;
        using (NoGrad.Begin())
        {
            using (adapters.Disabled()) baseScores = Scores().ToArray();
            scores = Scores();
        }
        Assert.Equal(new[] { rows.Count }, scores.Shape);
        AssertMoves(scores.ToArray(), baseScores, "scores");

        WriteOrCompare("qwen2-tiny-discriminator-lora",
            dir => PeftAdapter.Save(dir, adapters, PeftAdapter.SequenceClassification, modulesToSave: [d.Model.Score]),
            ScoresFile, input, "scores", scores,
            "raw scores: score.weight times the final (normed) hidden state at each row's last token, before the sigmoid (D = sigmoid(score)); each input_ids row is one sequence");
    }

    [Theory]
    [InlineData("qwen3-vl-tiny")]   // decoder named model.language_model.* (the released layout)
    [InlineData("qwen2-vl-tiny")]   // decoder named model.layers.* in the checkpoint (the Hub's flat layout)
    public void Vlm_student_lora_fixture_is_what_ril_writes(string checkpoint)
    {
        var model = TinyModels.FixtureChat(checkpoint).Model;
        var parity = SafeTensors.Read(Path.Combine(Dir(checkpoint), "parity.safetensors"));
        var input = parity["input_ids"];
        int[] ids = Ints(input);
        var pixels = new PixelInputs(Tensor.FromArray(parity["pixel_values"].Data, parity["pixel_values"].Shape), Ints(parity["image_grid_thw"]).Chunk(3).ToList());
        Tensor Logits() => model.Head(model.Hidden(new ModelInputs.Builder(model, 1, ids.Length, 0).Place(0, ids, ids.Length, pixels).Build()));
        float[] baseLogits;
        using (NoGrad.Begin()) baseLogits = Logits().ToArray();

        var adapters = Seeded(model.AttachLora(Lora, new Rng(41)), ((DecoderBackedModel)model).Text.Config.NumLayers, seed: checkpoint == "qwen3-vl-tiny" ? 242UL : 342UL);
        Tensor logits;
        using (NoGrad.Begin()) logits = Logits();
        Assert.Equal(parity["logits"].Shape, logits.Shape);
        AssertMoves(logits.ToArray(), baseLogits, "logits");

        WriteOrCompare(checkpoint + "-lora", dir => PeftAdapter.Save(dir, adapters, PeftAdapter.CausalLm), LogitsFile, input, "logits", logits);
    }

    /// <summary>
    /// Qwen2-VL's adapter names its modules as transformers ≥ 4.52 does (model.language_model.*: PEFT 0.21 on transformers
    /// 5.17 left model.layers.* names unloaded, docs/RESULTS.md §10), and Ril still reads the checkpoint's names, which
    /// Ril wrote before and PEFT on older transformers writes.
    /// </summary>
    [Fact]
    public void A_qwen2_vl_adapter_loads_under_either_name_of_its_decoder()
    {
        var dir = Dir("qwen2-vl-tiny-lora");
        var file = SafeTensors.Read(Path.Combine(dir, PeftAdapter.WeightsFile));
        Assert.All(file.Tensors, t => Assert.StartsWith(PeftAdapter.Prefix + "model.language_model.layers.", t.Name));
        Directory.CreateDirectory(_tmp);
        File.Copy(Path.Combine(dir, PeftAdapter.ConfigFile), Path.Combine(_tmp, PeftAdapter.ConfigFile));
        SafeTensors.Write(Path.Combine(_tmp, PeftAdapter.WeightsFile),
            file.Tensors.Select(t => new SafeTensorEntry(t.Name.Replace("model.language_model.", "model."), t.Shape, t.Data)).ToList(),
            new Dictionary<string, string> { ["format"] = "pt" });
        var modern = PeftAdapter.Load(dir, TinyModels.FixtureChat("qwen2-vl-tiny").Model);
        var flat = PeftAdapter.Load(_tmp, TinyModels.FixtureChat("qwen2-vl-tiny").Model);
        Assert.Equal(file.Tensors.Count, 2 * modern.All.Count);
        foreach (var (m, f) in modern.All.Zip(flat.All))
        {
            Assert.Equal(file[PeftAdapter.Prefix + "model.language_model." + m.A.Name!["model.".Length..]].Data, m.A.ToArray());
            Assert.Equal(m.A.ToArray(), f.A.ToArray());
            Assert.Equal(m.B.ToArray(), f.B.ToArray());
        }
    }

    static int[] Ints(SafeTensorEntry e) => e.Data.Select(v => (int)MathF.Round(v)).ToArray();

    static (DecoderLM Model, DecoderConfig Config) LoadQwen2Tiny()
    {
        var config = DecoderConfig.Load(Path.Combine(BaseDir, "config.json"));
        var model = new DecoderLM(config, new Rng(1));
        var unused = Checkpoint.LoadInto(model.Parameters(), Checkpoint.ReadTensors(BaseDir), BaseDir);
        Assert.True(unused.Count == 0, $"{BaseDir}: tensors no parameter took: {string.Join(", ", unused)}");
        return (model, config);
    }

    /// <summary>
    /// Checks that every projection of every layer is adapted and gives A and B seeded nonzero values (a seed per fixture,
    /// so that no two fixtures hold the same tensors where their shapes agree).
    /// </summary>
    static LoraAdapters Seeded(LoraAdapters adapters, int layers, ulong seed)
    {
        Assert.Equal(layers * LoraConfig.AllProjections.Count, adapters.All.Count);
        var rng = new Rng(seed);
        foreach (var a in adapters.All)   // uniform draws only: pure arithmetic, the same bits on every machine
        {
            rng.FillUniform(a.A.Data, -0.3f, 0.3f);
            rng.FillUniform(a.B.Data, -0.1f, 0.1f);
        }
        return adapters;
    }

    static void AssertMoves(float[] adapted, float[] unadapted, string what)
    {
        float change = adapted.Zip(unadapted, (x, y) => MathF.Abs(x - y)).Max();
        Assert.True(change > 0.05f, $"the adapter moves the {what} by at most {change:G3}: too little for the fixture to tell");
    }

    /// <summary>
    /// With RIL_WRITE_FIXTURES=1 writes the fixture folder <paramref name="fixture"/>: the adapter (<paramref name="save"/>)
    /// and <paramref name="outputsFile"/> (input_ids and Ril's outputs). Otherwise writes both to a temporary folder and
    /// requires the committed adapter's exact bytes, the same input_ids, and outputs within float32 rounding of the committed ones.
    /// </summary>
    void WriteOrCompare(string fixture, Action<string> save, string outputsFile, SafeTensorEntry input, string outputName, Tensor output, string? what = null)
    {
        static void Write(string dir, Action<string> save, string file, SafeTensorEntry input, string name, Tensor output, string? what)
        {
            save(dir);
            var metadata = new Dictionary<string, string> { ["source"] = "tests/Ril.Tests/Models/PeftFixtureTests.cs" };
            if (what is not null) metadata[name] = what;
            SafeTensors.Write(Path.Combine(dir, file),
                [new SafeTensorEntry("input_ids", input.Shape, input.Data), new SafeTensorEntry(name, output.Shape, output.ToArray())], metadata);
        }

        var committedDir = Dir(fixture);
        if (Environment.GetEnvironmentVariable("RIL_WRITE_FIXTURES") == "1")
        {
            Write(committedDir, save, outputsFile, input, outputName, output, what);
            return;
        }

        Assert.True(Directory.Exists(committedDir), $"{committedDir} is missing: run this test once with RIL_WRITE_FIXTURES=1");
        var dir = Path.Combine(_tmp, fixture);
        Write(dir, save, outputsFile, input, outputName, output, what);
        Assert.Equal(File.ReadAllBytes(Path.Combine(committedDir, PeftAdapter.WeightsFile)), File.ReadAllBytes(Path.Combine(dir, PeftAdapter.WeightsFile)));
        static string Text(string path) => File.ReadAllText(path).ReplaceLineEndings("\n");
        Assert.Equal(Text(Path.Combine(committedDir, PeftAdapter.ConfigFile)), Text(Path.Combine(dir, PeftAdapter.ConfigFile)));

        // The outputs may move in the last bits when a kernel changes its summation order; the adapter's bytes may not.
        var committed = SafeTensors.Read(Path.Combine(committedDir, outputsFile));
        Assert.Equal(input.Data, committed["input_ids"].Data);
        Assert.Equal(output.Shape, committed[outputName].Shape);
        var expected = committed[outputName].Data;
        float scale = MathF.Max(1f, expected.Max(MathF.Abs));
        float worst = output.ToArray().Zip(expected, (x, y) => MathF.Abs(x - y)).Max();
        Assert.True(worst <= 1e-5f * scale, $"{fixture}: Ril's {outputName} moved by {worst:G3} from {outputsFile} (allowed {1e-5f * scale:G3})");
    }
}

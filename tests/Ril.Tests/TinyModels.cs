using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Tensors.Optim;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests;

/// <summary>
/// The tiny models tests train, made in one place: the fixture BPE vocabulary, a text-only decoder, a VLM for the
/// built-in suite at 32 pixels, and the SFT warm-up on gold solutions that runs before RL.
/// </summary>
public static class TinyModels
{
    public static readonly string TokenizerPath = Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json");

    /// <summary>A 1-layer width-32 decoder with no vision side, on the fixture vocabulary.</summary>
    public static ChatModel TextPolicy(ulong seed)
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var config = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 2, NumKvHeadsField = 1 };
        return RilVlmFamily.Chat(VisionLanguageModel.Create(config, null, 1, -1, new Rng(seed)), tokenizer);
    }

    /// <summary><paramref name="n"/> text-only rows "Question number i?", all answered "1".</summary>
    public static List<DatasetRow> NumberedQuestions(int n) => Enumerable.Range(0, n)
        .Select(i => new DatasetRow($"q{i}", $"Question number {i}?", "1", null, null, new JsonObject(), "memory.jsonl", i + 1)).ToList();

    /// <summary>
    /// A VLM for the built-in suite at 32 pixels: a SigLIP-layout tower of width 32 with 8-pixel patches, pixel shuffle 2,
    /// and a decoder of the given width and depth (MLP twice as wide, 4 heads over 2 key-value heads).
    /// </summary>
    public static (ChatModel Policy, VlmConfig Config) SuiteStudent(int hidden, int layers, ulong seed)
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var text = new DecoderConfig { VocabSize = tokenizer.VocabSize, HiddenSize = hidden, IntermediateSize = 2 * hidden, NumLayers = layers, NumHeads = 4, NumKvHeadsField = 2, MaxPositions = 512 };
        var vision = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 2, ImageSize = 32, PatchSize = 8 };
        var config = new VlmConfig { Text = text, Vision = vision, PixelShuffle = 2, ImageTokenId = tokenizer.TokenToId("<|image_pad|>")!.Value };
        return (RilVlmFamily.Chat(VisionLanguageModel.Create(text, vision, config.PixelShuffle, config.ImageTokenId, new Rng(seed)), tokenizer), config);
    }

    /// <summary>The model of Ril's own layout under a chat model these tests built.</summary>
    public static VisionLanguageModel Vlm(this ChatModel chat) => (VisionLanguageModel)chat.Model;

    /// <summary>The image families' tiny checkpoints, as <see cref="FixtureChat"/> loads them.</summary>
    public static readonly string[] ImageCheckpoints = ["vlm-tiny", "qwen2-vl-tiny", "qwen2.5-vl-tiny", "qwen3-vl-tiny", "qwen3.5-tiny", "smolvlm-tiny"];

    /// <summary>
    /// A tiny checkpoint of tests/fixtures/models as a chat model; vlm-tiny is Ril's layout built on the fixture tokenizer
    /// (its folder holds weights only), and Qwen2.5-VL's folder, which has no tokenizer, takes Qwen2-VL's processor (the same one).
    /// </summary>
    public static ChatModel FixtureChat(string checkpoint)
    {
        static string Dir(string name) => Path.Combine(RepoPaths.Fixtures, "models", name);
        if (checkpoint == "vlm-tiny") return SuiteStudent(hidden: 32, layers: 1, seed: 1).Policy;
        if (checkpoint != "qwen2.5-vl-tiny") return ChatModel.Load(Dir(checkpoint));
        var json = ModelFamilies.ReadConfig(Dir(checkpoint), out var path);
        var model = ModelFamilies.Of(json, path).Load(Dir(checkpoint), json, path, BpeTokenizer.Load(TokenizerPath)).Model;
        return new ChatModel(model, ChatModel.Load(Dir("qwen2-vl-tiny")).Processor);
    }

    /// <summary>SFT warm-up: <paramref name="steps"/> batches of random training rows, each imitating its gold solution (AdamW, no decay).</summary>
    public static void WarmUpOnGold(ChatModel policy, DataFlow flow, IReadOnlyList<DatasetRow> rows, int steps, int batch, float lr, ulong seed)
    {
        var sft = new SftTrainer(policy, new AdamW(policy.Parameters().ToList(), lr, 0f));
        var rng = new Rng(seed);
        for (int step = 0; step < steps; step++)
            sft.Step(Enumerable.Range(0, batch).Select(_ => flow.Render(rows[rng.NextInt(rows.Count)]))
                .Select(q => new SftExample(q.PromptIds, q.Pixels, SftTrainer.ResponseTokens(policy, q.Row.Solution!))).ToList());
    }
}

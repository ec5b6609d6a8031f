using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Tensors;

namespace Ril.Export;

/// <summary>What an export wrote.</summary>
public sealed record GgufExportSummary(string Path, string Architecture, int Tensors, long Parameters, long Bytes, GgufVocab Vocab);

/// <summary>
/// The decoder of a model (its text part, for a VLM) and its tokenizer as one GGUF v3 file that llama.cpp and ollama
/// load, laid out as llama.cpp's converter lays out the same Hugging Face checkpoint (docs/spec/GGUF.md): the
/// architecture's hyper-parameters under "{arch}.", tensors under llama.cpp's names, the tokenizer under "tokenizer.".
/// </summary>
public static class GgufExport
{
    /// <param name="model">the model, adapters already merged</param>
    /// <param name="tokenizerDir">the folder holding tokenizer.json (and tokenizer_config.json, config.json, the chat template)</param>
    /// <param name="pre">llama.cpp's pre-tokenizer name, when tokenizer.json's is not one the exporter recognises</param>
    public static GgufExportSummary Write(ICausalLM model, string tokenizerDir, string outPath, GgufTensorType type, string? name = null, string? pre = null)
    {
        var decoder = DecoderOf(model);
        var c = decoder.Config;
        var arch = ArchitectureOf(model);
        var vocab = GgufVocab.Read(tokenizerDir, c.VocabSize, pre);
        var gguf = new GgufWriter();

        gguf.String("general.architecture", arch);
        gguf.String("general.type", "model");
        gguf.String("general.name", name ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(tokenizerDir))));
        gguf.UInt32("general.file_type", type switch { GgufTensorType.F16 => 1u, GgufTensorType.BF16 => 32u, _ => 0u });   // llama_ftype: all F32, mostly F16, mostly BF16
        gguf.UInt32("general.quantization_version", 2);
        gguf.UInt32($"{arch}.block_count", (uint)c.NumLayers);
        gguf.UInt32($"{arch}.context_length", (uint)c.MaxPositions);
        gguf.UInt32($"{arch}.embedding_length", (uint)c.HiddenSize);
        gguf.UInt32($"{arch}.feed_forward_length", (uint)c.IntermediateSize);
        gguf.UInt32($"{arch}.attention.head_count", (uint)c.NumHeads);
        gguf.UInt32($"{arch}.attention.head_count_kv", (uint)c.NumKvHeads);
        gguf.Float32($"{arch}.rope.freq_base", c.RopeTheta);
        gguf.Float32($"{arch}.attention.layer_norm_rms_epsilon", c.RmsNormEps);
        gguf.UInt32($"{arch}.rope.dimension_count", (uint)c.HeadDim);
        if (c.HeadDimField is not null)   // an explicit head_dim (Qwen3: not hidden_size / heads), as the converter writes it
        {
            gguf.UInt32($"{arch}.attention.key_length", (uint)c.HeadDim);
            gguf.UInt32($"{arch}.attention.value_length", (uint)c.HeadDim);
        }
        gguf.UInt32($"{arch}.vocab_size", (uint)c.VocabSize);
        if (model is Qwen2VlModel vl)   // M-RoPE: the rotary pairs given to time, height and width, padded to llama.cpp's four sections
            gguf.Int32s($"{arch}.rope.dimension_sections", [.. vl.Config.MropeSection, .. Enumerable.Repeat(0, 4 - vl.Config.MropeSection.Length)]);

        gguf.String("tokenizer.ggml.model", "gpt2");
        gguf.String("tokenizer.ggml.pre", vocab.Pre);
        gguf.Strings("tokenizer.ggml.tokens", vocab.Tokens);
        gguf.Int32s("tokenizer.ggml.token_type", vocab.TokenTypes);
        gguf.Strings("tokenizer.ggml.merges", vocab.Merges);
        if (vocab.BosId is int bos) gguf.UInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (vocab.EosId is int eos) gguf.UInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        if (vocab.UnkId is int unk) gguf.UInt32("tokenizer.ggml.unknown_token_id", (uint)unk);
        if (vocab.PadId is int pad) gguf.UInt32("tokenizer.ggml.padding_token_id", (uint)pad);
        gguf.Bool("tokenizer.ggml.add_bos_token", vocab.AddBos);
        if (vocab.AddEos is bool addEos) gguf.Bool("tokenizer.ggml.add_eos_token", addEos);
        if (vocab.ChatTemplate is { } template) gguf.String("tokenizer.chat_template", template);

        // llama.cpp's "llama" rotates adjacent pairs of each head's dimensions, Hugging Face's Llama the two halves: the
        // converter reorders q and k rows to match. Qwen2's graph rotates halves (NeoX style), so its rows stay.
        bool permute = arch == "llama";
        long parameters = 0;
        int count = 0;
        void Add(string tensorName, Tensor t, int heads = 0)
        {
            float[] Data() => permute && heads > 0 ? RotaryRows.HalvesToPairs(t.ToArray(), heads, t.Shape[0] / heads) : t.ToArray();
            gguf.Tensor(tensorName, t.Shape, Data, t.Shape.Length == 1 ? GgufTensorType.F32 : type);   // norms and biases stay F32, as the converter keeps 1-D tensors
            parameters += t.Length;
            count++;
        }
        Add("token_embd.weight", decoder.EmbedTokens);
        for (int i = 0; i < decoder.Layers.Length; i++)
        {
            var b = decoder.Layers[i];
            var p = $"blk.{i}.";
            Add(p + "attn_norm.weight", b.InputNorm);
            Add(p + "attn_q.weight", b.QProj!, c.NumHeads);
            if (b.QBias is { } qb) Add(p + "attn_q.bias", qb, c.NumHeads);
            Add(p + "attn_k.weight", b.KProj!, c.NumKvHeads);
            if (b.KBias is { } kb) Add(p + "attn_k.bias", kb, c.NumKvHeads);
            if (b.QNorm is { } qn) Add(p + "attn_q_norm.weight", qn);   // Qwen3: RMSNorm over each head's q and k, before RoPE
            if (b.KNorm is { } kn) Add(p + "attn_k_norm.weight", kn);
            Add(p + "attn_v.weight", b.VProj!);
            if (b.VBias is { } vb) Add(p + "attn_v.bias", vb);
            Add(p + "attn_output.weight", b.OProj!);
            Add(p + "ffn_norm.weight", b.PostNorm);
            Add(p + "ffn_gate.weight", b.GateProj);
            Add(p + "ffn_up.weight", b.UpProj);
            Add(p + "ffn_down.weight", b.DownProj);
        }
        Add("output_norm.weight", decoder.FinalNorm);
        if (!c.TieWordEmbeddings) Add("output.weight", decoder.LmHead);   // tied: llama.cpp reads token_embd for the head
        gguf.Write(outPath);
        return new GgufExportSummary(outPath, arch, count, parameters, new FileInfo(outPath).Length, vocab);
    }

    /// <summary>The Llama-layout decoder of a text model or of a VLM.</summary>
    public static DecoderLM DecoderOf(ICausalLM model) => model switch
    {
        Qwen3VlModel => throw new NotSupportedException("GGUF export: Qwen3-VL's decoder (interleaved M-RoPE, DeepStack features added to its first layers) is not exported yet"),
        DecoderLM d => Exportable(d),
        DecoderBackedModel m => Exportable(m.Text),
        _ => throw new NotSupportedException($"GGUF export: a {model.GetType().Name} has no Llama-layout decoder to export"),
    };

    static DecoderLM Exportable(DecoderLM d) =>
        d.Config.ModelType == DecoderConfig.Qwen35Text ? throw new NotSupportedException("GGUF export: Qwen3.5's hybrid decoder (Gated DeltaNet layers, gated attention) is not exported yet")
        : d;

    /// <summary>
    /// llama.cpp's architecture for the model: "qwen2" for Qwen2 decoders, "qwen3" for Qwen3's (q/k norms), "qwen2vl" for
    /// Qwen2-VL's and Qwen2.5-VL's (multimodal RoPE; llama.cpp has one text architecture for both, the vision towers differ
    /// in the mmproj), "llama" for Llama, Mistral and the Llama decoders of SmolVLM and Ril's VLM.
    /// </summary>
    public static string ArchitectureOf(ICausalLM model) => model switch
    {
        Qwen2VlModel => "qwen2vl",
        _ => DecoderOf(model).Config.ModelType switch { "qwen2" => "qwen2", "qwen3" => "qwen3", _ => "llama" },
    };
}

/// <summary>
/// The two orders of a head's rotary dimensions: Hugging Face rotates dimension j with j + d/2 ("halves"), llama.cpp's
/// Llama graph rotates 2j with 2j + 1 ("pairs"). Reordering the rows of W_q and W_k (and their biases) moves a model
/// from one to the other without changing what it computes.
/// </summary>
public static class RotaryRows
{
    /// <summary>Rows of <paramref name="data"/> ([heads·headDim, cols], row-major) reordered: new row 2j + s of a head is old row s·d/2 + j.</summary>
    public static float[] HalvesToPairs(float[] data, int heads, int headDim) => Reorder(data, heads, headDim, toPairs: true);

    /// <summary>The inverse of <see cref="HalvesToPairs"/>.</summary>
    public static float[] PairsToHalves(float[] data, int heads, int headDim) => Reorder(data, heads, headDim, toPairs: false);

    static float[] Reorder(float[] data, int heads, int headDim, bool toPairs)
    {
        int cols = data.Length / (heads * headDim), half = headDim / 2;
        var result = new float[data.Length];
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
                for (int s = 0; s < 2; s++)
                {
                    int pairs = h * headDim + 2 * j + s, halves = h * headDim + s * half + j;
                    var (to, from) = toPairs ? (pairs, halves) : (halves, pairs);
                    Array.Copy(data, (long)from * cols, result, (long)to * cols, cols);
                }
        return result;
    }
}

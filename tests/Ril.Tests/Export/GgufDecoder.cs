using Ril.Models.Families.Llama;
using Ril.Tensors;

namespace Ril.Tests.Export;

/// <summary>
/// A Ril decoder built from a GGUF file alone, by llama.cpp's reading of it: the hyper-parameters from "{arch}." keys,
/// the weights from llama.cpp's tensor names, q and k rows of the "llama" architecture put back from llama.cpp's
/// adjacent-pair rotary order into Hugging Face's halves, no output tensor meaning a head tied to token_embd.
/// </summary>
public static class GgufDecoder
{
    public static DecoderLM Load(GgufReader gguf)
    {
        var arch = (string)gguf["general.architecture"];
        uint U(string key) => (uint)gguf[$"{arch}.{key}"];
        float F(string key) => (float)gguf[$"{arch}.{key}"];
        var embd = gguf.Tensor("token_embd.weight");
        var config = new DecoderConfig
        {
            ModelType = arch is "llama" or "qwen3" ? arch : "qwen2",
            HeadDimField = gguf.Has($"{arch}.attention.key_length") ? (int)U("attention.key_length") : null,
            VocabSize = embd.Shape[0],
            HiddenSize = (int)U("embedding_length"),
            IntermediateSize = (int)U("feed_forward_length"),
            NumLayers = (int)U("block_count"),
            NumHeads = (int)U("attention.head_count"),
            NumKvHeadsField = (int)U("attention.head_count_kv"),
            RmsNormEps = F("attention.layer_norm_rms_epsilon"),
            RopeTheta = F("rope.freq_base"),
            MaxPositions = (int)U("context_length"),
            TieWordEmbeddings = !gguf.Tensors.Any(t => t.Name == "output.weight"),
            AttentionBias = gguf.Tensors.Any(t => t.Name == "blk.0.attn_q.bias"),
        };
        var model = new DecoderLM(config, new Rng(0));
        int headDim = config.HeadDim;
        void Fill(Tensor p, string name, int heads = 0)
        {
            var info = gguf.Tensor(name);
            Assert.Equal(p.Shape, info.Shape);
            var data = gguf.Read(info);
            if (arch == "llama" && heads > 0) data = FromPairs(data, heads, headDim);
            data.CopyTo(p.Data);
        }
        Fill(model.EmbedTokens, "token_embd.weight");
        for (int i = 0; i < config.NumLayers; i++)
        {
            var b = model.Layers[i];
            Fill(b.InputNorm, $"blk.{i}.attn_norm.weight");
            Fill(b.QProj!, $"blk.{i}.attn_q.weight", config.NumHeads);
            Fill(b.KProj!, $"blk.{i}.attn_k.weight", config.NumKvHeads);
            Fill(b.VProj!, $"blk.{i}.attn_v.weight");
            Fill(b.OProj!, $"blk.{i}.attn_output.weight");
            if (config.QkNorm)
            {
                Fill(b.QNorm!, $"blk.{i}.attn_q_norm.weight");
                Fill(b.KNorm!, $"blk.{i}.attn_k_norm.weight");
            }
            if (config.AttentionBias)
            {
                Fill(b.QBias!, $"blk.{i}.attn_q.bias", config.NumHeads);
                Fill(b.KBias!, $"blk.{i}.attn_k.bias", config.NumKvHeads);
                Fill(b.VBias!, $"blk.{i}.attn_v.bias");
            }
            Fill(b.PostNorm, $"blk.{i}.ffn_norm.weight");
            Fill(b.GateProj, $"blk.{i}.ffn_gate.weight");
            Fill(b.UpProj, $"blk.{i}.ffn_up.weight");
            Fill(b.DownProj, $"blk.{i}.ffn_down.weight");
        }
        Fill(model.FinalNorm, "output_norm.weight");
        if (!config.TieWordEmbeddings) Fill(model.LmHead, "output.weight");
        return model;
    }

    /// <summary>Rows of each head from llama.cpp's order (dimension pairs 2j, 2j+1) to Hugging Face's (j, j + d/2).</summary>
    static float[] FromPairs(float[] data, int heads, int headDim)
    {
        int rows = heads * headDim, cols = data.Length / rows;
        var result = new float[data.Length];
        for (int row = 0; row < rows; row++)
        {
            int h = row / headDim, r = row % headDim;
            int hfRow = h * headDim + (r % 2) * (headDim / 2) + r / 2;
            Array.Copy(data, row * cols, result, hfRow * cols, cols);
        }
        return result;
    }
}

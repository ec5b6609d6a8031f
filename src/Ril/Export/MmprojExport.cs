using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen35;
using Ril.Models.Families.Qwen3Vl;
using Ril.Models.Families.RilVlm;
using Ril.Models.Families.SmolVlm;
using Ril.Tensors;

namespace Ril.Export;

/// <summary>What an mmproj export wrote.</summary>
public sealed record MmprojExportSummary(string Path, string ProjectorType, int Tensors, long Parameters, long Bytes);

/// <summary>
/// The vision tower and projector of a VLM as the separate GGUF file ("mmproj") that llama.cpp's multimodal library
/// (libmtmd, `llama-mtmd-cli --mmproj`) loads beside the text GGUF of <see cref="GgufExport"/>: architecture "clip", the
/// tower's hyper-parameters under "clip.vision.", tensors under llama.cpp's v.* / mm.* names, laid out as llama.cpp's
/// converter lays out the same checkpoint (docs/spec/GGUF.md, "mmproj").
/// </summary>
public static class MmprojExport
{
    /// <param name="model">the model, adapters already merged</param>
    /// <param name="processor">the model's processor: image mean, std and sizes</param>
    /// <param name="name">general.name (none when null)</param>
    public static MmprojExportSummary Write(ICausalLM model, IProcessor processor, string outPath, GgufTensorType type, string? name = null)
    {
        var gguf = new GgufWriter();
        gguf.String("general.architecture", "clip");
        gguf.String("general.type", "mmproj");
        if (name is not null) gguf.String("general.name", name);
        gguf.UInt32("general.file_type", type switch { GgufTensorType.F16 => 1u, GgufTensorType.BF16 => 32u, _ => 0u });
        gguf.UInt32("general.quantization_version", 2);
        gguf.Bool("clip.has_vision_encoder", true);
        var tensors = new TensorList(gguf, type);
        string projector = model switch
        {
            Qwen2VlModel vl => Qwen2Vl(vl, Images<Qwen2VlProcessor>(processor, "Qwen2-VL").Images, gguf, tensors),
            Qwen3VlModel vl => Qwen3Vl(vl, Images<Qwen2VlProcessor>(processor, "Qwen3-VL").Images, gguf, tensors),
            SmolVlmModel smol => Idefics3(smol, Images<SmolVlmProcessor>(processor, "SmolVLM").Images, gguf, tensors),
            _ => throw new NotSupportedException($"mmproj export: {Unsupported(model)}"),
        };
        gguf.Write(outPath);
        return new MmprojExportSummary(outPath, projector, tensors.Count, tensors.Parameters, new FileInfo(outPath).Length);
    }

    /// <summary>Why a model has no mmproj, naming its family.</summary>
    static string Unsupported(ICausalLM model) => model switch
    {
        VisionLanguageModel => "Ril's own VLM (ril_vlm) has no llama.cpp counterpart: llama.cpp has no projector type for its SigLIP + MLP layout",
        Qwen35Model => "Qwen3.5 (qwen3_5) is not exported yet",
        DecoderLM d => $"{d.Config.ModelType} is a text-only model: it has no vision tower to export",
        _ => $"a {model.GetType().Name} has no vision tower that Ril exports",
    };

    static T Images<T>(IProcessor processor, string family) where T : class => processor as T
        ?? throw new ArgumentException($"mmproj export: a {family} model needs its own processor, not a {processor.GetType().Name}");

    /// <summary>
    /// Qwen2-VL (qwen2vl_merger) and Qwen2.5-VL (qwen2.5vl_merger). The Conv3d patch weight [E, C, 2, p, p] becomes two
    /// 2-D kernels, one per frame (v.patch_embd.weight, v.patch_embd.weight.1); each block's fused qkv is split into
    /// thirds; the merger's norm is v.post_ln, its two linears mm.0 and mm.2.
    /// </summary>
    static string Qwen2Vl(Qwen2VlModel model, Qwen2VlImageProcessor images, GgufWriter gguf, TensorList tensors)
    {
        var c = model.Config.Vision;
        var t = model.Vision;
        string path = "config.json vision_config";
        bool qwen25 = c.Windowed;
        string projector = qwen25 ? "qwen2.5vl_merger" : "qwen2vl_merger";
        gguf.String("clip.projector_type", projector);
        var vision = model.Config.Json["vision_config"] as JsonObject;
        int imageSize = vision?["image_size"] is JsonValue v && v.TryGetValue<int>(out var s) ? s : 560;   // the converter's default
        VisionKeys(gguf, model.Config.Text.HiddenSize, imageSize, c.PatchSize, c.Width, c.MlpWidth, c.Depth, c.Heads, Qwen2VisionTower.Eps, images.Mean, images.Std);
        gguf.UInt32("clip.vision.spatial_merge_size", (uint)c.MergeSize);
        if (qwen25)
        {
            gguf.Bool("clip.use_silu", true);
            gguf.UInt32("clip.vision.n_wa_pattern", (uint)WindowPattern(c.FullAttentionBlocks, c.Depth, path));
        }
        else if (c.Activation != "quick_gelu") gguf.Bool(c.Activation == "silu" ? "clip.use_silu" : "clip.use_gelu", true);   // neither flag: quick GELU

        PatchKernels(tensors, t.PatchEmbed, c);
        Blocks(tensors, t.Blocks, c, fusedQkv: false);
        tensors.Add("v.post_ln.weight", t.MergerNorm);
        if (t.MergerNormBias is { } mb) tensors.Add("v.post_ln.bias", mb);
        tensors.Add("mm.0.weight", t.Mlp0);
        tensors.Add("mm.0.bias", t.Mlp0Bias);
        tensors.Add("mm.2.weight", t.Mlp2);
        tensors.Add("mm.2.bias", t.Mlp2Bias);
        return projector;
    }

    /// <summary>
    /// Qwen3-VL (qwen3vl_merger): as Qwen2-VL's but the patch kernel has a bias, the learned position table is
    /// v.position_embd (llama.cpp resamples it to each image), qkv stays fused (attn_qkv), the merger's linear_fc1/2 are
    /// mm.0/mm.2, and DeepStack merger k goes to v.deepstack.{block}.* of the block it taps (clip.vision.is_deepstack_layers).
    /// </summary>
    static string Qwen3Vl(Qwen3VlModel model, Qwen2VlImageProcessor images, GgufWriter gguf, TensorList tensors)
    {
        var config = model.Config;
        var c = config.Vision;
        var t = model.Vision;
        gguf.String("clip.projector_type", "qwen3vl_merger");
        var vision = config.Json["vision_config"] as JsonObject;
        int imageSize = vision?["image_size"] is JsonValue v && v.TryGetValue<int>(out var s) ? s : config.PositionTableSide * c.PatchSize;   // the converter's: √positions · patch
        VisionKeys(gguf, config.Text.HiddenSize, imageSize, c.PatchSize, c.Width, c.MlpWidth, c.Depth, c.Heads, Qwen2VisionTower.Eps, images.Mean, images.Std);
        gguf.Bool("clip.use_gelu", true);
        gguf.UInt32("clip.vision.spatial_merge_size", (uint)c.MergeSize);
        gguf.Bools("clip.vision.is_deepstack_layers", Enumerable.Range(0, c.Depth).Select(config.DeepstackIndexes.Contains).ToArray());

        PatchKernels(tensors, t.PatchEmbed, c);
        tensors.Add("v.patch_embd.bias", t.PatchEmbedBias);
        tensors.Add("v.position_embd.weight", t.PositionTable, GgufTensorType.F32);
        Blocks(tensors, t.Blocks, c, fusedQkv: true);
        Merger(tensors, "v.post_ln", "mm.0", "mm.2", t.Merger);
        for (int k = 0; k < t.DeepstackMergers.Length; k++)
        {
            string pre = $"v.deepstack.{config.DeepstackIndexes[k]}.";
            Merger(tensors, pre + "norm", pre + "fc1", pre + "fc2", t.DeepstackMergers[k]);
        }
        return "qwen3vl_merger";
    }

    static void Merger(TensorList tensors, string norm, string fc1, string fc2, PatchMerger m)
    {
        (string Name, Tensor Weight, Tensor Bias)[] parts = [(norm, m.Norm, m.NormBias), (fc1, m.Fc1, m.Fc1Bias), (fc2, m.Fc2, m.Fc2Bias)];
        foreach (var (name, w, b) in parts)
        {
            tensors.Add(name + ".weight", w);
            tensors.Add(name + ".bias", b);
        }
    }

    /// <summary>The Conv3d patch weight [E, C, 2, p, p] as two 2-D kernels [E, C, p, p], frame 0 and frame 1.</summary>
    static void PatchKernels(TensorList tensors, Tensor patchEmbed, VisionTowerConfig c)
    {
        if (c.TemporalPatchSize != 2)
            throw new NotSupportedException($"mmproj export: config.json vision_config field 'temporal_patch_size' is {c.TemporalPatchSize}; llama.cpp reads 2 frames only");
        int e = c.Width, p = c.PatchSize, frame = p * p;
        float[] Frame(int f)
        {
            var w = patchEmbed.ToArray();
            int planes = e * c.InChannels;   // plane (e, c) holds T frames of p·p
            var result = new float[planes * frame];
            for (int i = 0; i < planes; i++) Array.Copy(w, ((long)i * c.TemporalPatchSize + f) * frame, result, (long)i * frame, frame);
            return result;
        }
        int[] kernel = [e, c.InChannels, p, p];
        var patchType = PatchType(tensors.Type);
        tensors.Add("v.patch_embd.weight", kernel, () => Frame(0), patchType);
        tensors.Add("v.patch_embd.weight.1", kernel, () => Frame(1), patchType);
    }

    /// <summary>
    /// The Qwen vision blocks: norm1/norm2 as ln1/ln2, attn.proj as attn_out, qkv fused (attn_qkv) or split in thirds
    /// (attn_q, attn_k, attn_v); the MLP as ffn_up/ffn_down (fc1/fc2, linear_fc1/2) or ffn_gate/ffn_up/ffn_down (Qwen2.5-VL's SwiGLU).
    /// </summary>
    static void Blocks(TensorList tensors, Qwen2VisionBlock[] blocks, VisionTowerConfig c, bool fusedQkv)
    {
        int e = c.Width;
        for (int i = 0; i < blocks.Length; i++)
        {
            var b = blocks[i];
            string pre = $"v.blk.{i}.";
            tensors.Add(pre + "ln1.weight", b.Norm1);
            if (b.Norm1Bias is { } n1) tensors.Add(pre + "ln1.bias", n1);
            if (fusedQkv)
            {
                tensors.Add(pre + "attn_qkv.weight", b.Qkv);
                tensors.Add(pre + "attn_qkv.bias", b.QkvBias);
            }
            else
            {
                string[] parts = ["attn_q", "attn_k", "attn_v"];
                for (int k = 0; k < 3; k++)
                {
                    tensors.Add($"{pre}{parts[k]}.weight", [e, e], Rows(b.Qkv, k * e, e));
                    tensors.Add($"{pre}{parts[k]}.bias", [e], Rows(b.QkvBias, k * e, e));
                }
            }
            tensors.Add(pre + "attn_out.weight", b.Proj);
            tensors.Add(pre + "attn_out.bias", b.ProjBias);
            tensors.Add(pre + "ln2.weight", b.Norm2);
            if (b.Norm2Bias is { } n2) tensors.Add(pre + "ln2.bias", n2);
            string[] mlp = b.MlpWeights.Length == 3 ? ["ffn_gate", "ffn_up", "ffn_down"] : ["ffn_up", "ffn_down"];
            for (int k = 0; k < mlp.Length; k++)
            {
                tensors.Add($"{pre}{mlp[k]}.weight", b.MlpWeights[k]);
                tensors.Add($"{pre}{mlp[k]}.bias", b.MlpBiases[k]);
            }
        }
    }

    /// <summary>
    /// llama.cpp's window-attention pattern n: block i attends to the whole image when (i + 1) mod n = 0. The full-attention
    /// blocks must therefore be n − 1, 2n − 1, … (as in the released Qwen2.5-VL: 7, 15, 23, 31).
    /// </summary>
    static int WindowPattern(int[] full, int depth, string path)
    {
        int n = full.Length > 0 ? full[0] + 1 : 0;
        bool regular = n > 0 && full.Select((b, i) => b == (i + 1) * n - 1).All(x => x) && full.Length == depth / n;
        return regular ? n : throw new NotSupportedException(
            $"mmproj export: {path} field 'fullatt_block_indexes' [{string.Join(", ", full)}] is not every n-th block of {depth}, the only pattern llama.cpp runs");
    }

    /// <summary>
    /// Idefics3 / SmolVLM (idefics3): the SigLIP tower under v.*, its post-LayerNorm v.post_ln, the connector's linear
    /// mm.model.fc after the pixel shuffle (clip.vision.projector.scale_factor); the embeddings stay F32 as the converter keeps them.
    /// </summary>
    static string Idefics3(SmolVlmModel model, SmolVlmImageProcessor images, GgufWriter gguf, TensorList tensors)
    {
        var c = model.Config.Vision;
        var v = model.Vision;
        gguf.String("clip.projector_type", "idefics3");
        VisionKeys(gguf, model.Config.Text.HiddenSize, c.ImageSize, c.PatchSize, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.LayerNormEps, images.Mean, images.Std);
        gguf.Bool("clip.use_gelu", true);
        gguf.UInt32("clip.vision.projector.scale_factor", (uint)model.Config.ScaleFactor);
        gguf.UInt32("clip.vision.preproc_image_size", (uint)images.LongestEdge);

        tensors.Add("v.patch_embd.weight", v.PatchWeight, GgufTensorType.F32);
        tensors.Add("v.patch_embd.bias", v.PatchBias);
        tensors.Add("v.position_embd.weight", v.PositionEmbedding, GgufTensorType.F32);
        for (int i = 0; i < v.Layers.Length; i++)
        {
            var b = v.Layers[i];
            string pre = $"v.blk.{i}.";
            (string Name, Tensor Weight, Tensor Bias)[] parts =
            [
                ("ln1", b.Ln1W, b.Ln1B), ("attn_q", b.QW, b.QB), ("attn_k", b.KW, b.KB), ("attn_v", b.VW, b.VB), ("attn_out", b.OW, b.OB),
                ("ln2", b.Ln2W, b.Ln2B), ("ffn_up", b.Fc1W, b.Fc1B), ("ffn_down", b.Fc2W, b.Fc2B),
            ];
            foreach (var (part, w, bias) in parts)
            {
                tensors.Add($"{pre}{part}.weight", w);
                tensors.Add($"{pre}{part}.bias", bias);
            }
        }
        tensors.Add("v.post_ln.weight", v.PostNormWeight);
        tensors.Add("v.post_ln.bias", v.PostNormBias);
        tensors.Add("mm.model.fc.weight", model.Connector);
        return "idefics3";
    }

    /// <summary>The keys every vision projector has (MmprojModel's in the converter).</summary>
    static void VisionKeys(GgufWriter gguf, int projectionDim, int imageSize, int patchSize, int width, int mlpWidth, int depth, int heads, float eps,
                           float[] mean, float[] std)
    {
        gguf.UInt32("clip.vision.projection_dim", (uint)projectionDim);
        gguf.UInt32("clip.vision.image_size", (uint)imageSize);
        gguf.UInt32("clip.vision.patch_size", (uint)patchSize);
        gguf.UInt32("clip.vision.embedding_length", (uint)width);
        gguf.UInt32("clip.vision.feed_forward_length", (uint)mlpWidth);
        gguf.UInt32("clip.vision.block_count", (uint)depth);
        gguf.UInt32("clip.vision.attention.head_count", (uint)heads);
        gguf.Float32("clip.vision.attention.layer_norm_epsilon", eps);
        gguf.Float32s("clip.vision.image_mean", mean);
        gguf.Float32s("clip.vision.image_std", std);
    }

    /// <summary>The converter keeps patch kernels F16 in an F16 file and F32 otherwise (ggml's convolution reads no BF16).</summary>
    static GgufTensorType PatchType(GgufTensorType type) => type == GgufTensorType.F16 ? GgufTensorType.F16 : GgufTensorType.F32;

    /// <summary>Rows [start, start + count) of a matrix or vector.</summary>
    static Func<float[]> Rows(Tensor t, int start, int count) => () =>
    {
        int cols = t.Shape.Length == 1 ? 1 : t.Length / t.Shape[0];
        return t.ToArray().AsSpan(start * cols, count * cols).ToArray();
    };

    /// <summary>The tensors added so far: 1-D ones F32 (norms and biases, as the converter keeps them), others the file's type unless told.</summary>
    sealed class TensorList(GgufWriter gguf, GgufTensorType type)
    {
        public GgufTensorType Type => type;
        public int Count { get; private set; }
        public long Parameters { get; private set; }

        public void Add(string name, Tensor t, GgufTensorType? forced = null) => Add(name, t.Shape, t.ToArray, forced);

        public void Add(string name, int[] shape, Func<float[]> data, GgufTensorType? forced = null)
        {
            gguf.Tensor(name, shape, data, shape.Length == 1 ? GgufTensorType.F32 : forced ?? type);
            Parameters += shape.Aggregate(1L, (a, d) => a * d);
            Count++;
        }
    }
}

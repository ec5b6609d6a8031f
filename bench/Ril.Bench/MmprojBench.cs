using System.Runtime.InteropServices;
using LLama;
using LLama.Common;
using LLama.Native;
using Ril.Data.Images;
using Ril.Export;
using Ril.Models;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.SmolVlm;
using Ril.Tensors;
using Ril.Tensors.Autograd;

namespace Ril.Bench;

/// <summary>
/// llama.cpp reads `ril export mmproj`: a VLM folder's text GGUF (F32) and mmproj (--type) loaded by libmtmd through LLamaSharp
/// (CPU), one image encoded by llama.cpp's vision graph, its image embeddings compared with Ril's tower + projector on
/// the same image. The image is sized so that both preprocess it without resampling: Qwen2-VL 224×224 (a multiple of
/// 28 within the pixel limits), SmolVLM the processor's longest edge (its tiles are exact crops; the global view, which both
/// shrink with their own filters, is reported apart). Prints `mmproj model=NAME chunk=K tokens=N max_abs_diff=… rms=…`.
///
/// Usage: mmproj --model DIR[,DIR...] [--type f32|f16|bf16] [--tokenizer FILE] [--threads 2] [--gguf-dir DIR]
///   --type: the mmproj's (default f32); the text GGUF is F32
///   --tokenizer: the tokenizer.json for folders without one (the tiny Qwen2.5-VL fixture: Qwen2-VL's), copied beside a copy of the folder
/// </summary>
public static class MmprojBench
{
    public static void Run(string[] args)
    {
        string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var dirs = (Option("--model") ?? throw new ArgumentException("mmproj: --model DIR[,DIR...] is required")).Split(',');
        int threads = int.Parse(Option("--threads") ?? "2");
        var ggufDir = Option("--gguf-dir") ?? Path.Combine(Path.GetTempPath(), "ril-mmproj-bench");
        NativeLibraryConfig.All.WithLogCallback((level, message) => { if (level == LLamaLogLevel.Error) Console.Error.Write(message); });
        var type = Option("--type") ?? "f32";
        var tensorType = type switch { "f32" => GgufTensorType.F32, "f16" => GgufTensorType.F16, "bf16" => GgufTensorType.BF16, _ => throw new ArgumentException($"--type {type}: f32, f16 or bf16") };
        foreach (var dir in dirs) Compare(WithTokenizer(dir, Option("--tokenizer"), ggufDir), threads, ggufDir, tensorType, type);
    }

    /// <summary>DIR itself, or a copy of it with <paramref name="tokenizer"/> when it has no tokenizer.json.</summary>
    static string WithTokenizer(string dir, string? tokenizer, string work)
    {
        if (File.Exists(Path.Combine(dir, "tokenizer.json")) || tokenizer is null) return dir;
        var copy = Path.Combine(work, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))));
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(dir)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)), overwrite: true);
        File.Copy(tokenizer, Path.Combine(copy, "tokenizer.json"), overwrite: true);
        return copy;
    }

    static void Compare(string dir, int threads, string ggufDir, GgufTensorType type, string typeName)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        var chat = ChatModel.Load(dir);
        string text = Path.Combine(ggufDir, name + "-f32.gguf"), mmproj = Path.Combine(ggufDir, $"{name}-mmproj-{typeName}.gguf");
        GgufExport.Write(chat.Model, dir, text, GgufTensorType.F32);
        var summary = MmprojExport.Write(chat.Model, chat.Processor, mmproj, type, name);
        Console.WriteLine($"# {name}: exported {text} and {mmproj} ({summary.ProjectorType}, {summary.Tensors} tensors)");

        int side = chat.Model switch
        {
            Qwen2VlModel => 224,   // 8×8 merged tokens: Qwen2.5-VL's 4×4-token windows split it in four
            SmolVlmModel => ((SmolVlmProcessor)chat.Processor).Images.LongestEdge,
            _ => throw new NotSupportedException($"mmproj: {name} is not a Qwen2-VL or SmolVLM folder"),
        };
        var image = TestImage(side);

        // Ril: the tower and projector on the processor's pixels; rows per tile (SmolVLM) or the one image (Qwen2-VL).
        float[][] ril;
        int width = chat.Model.HiddenSize;
        using (NoGrad.Begin())
        {
            var pixels = chat.Processor.Pixels([image])!;
            var features = chat.Model switch
            {
                Qwen2VlModel vl => vl.Vision.Forward(pixels),
                SmolVlmModel smol => smol.ImageFeatures(pixels),
                _ => throw new InvalidOperationException(),
            };
            int perTile = chat.Model is SmolVlmModel s ? s.Config.ImageSeqLen : features.Shape[0];
            var all = features.ToArray();
            ril = Enumerable.Range(0, features.Shape[0] / perTile).Select(t => all.AsSpan(t * perTile * width, perTile * width).ToArray()).ToArray();
        }

        // llama.cpp: each image chunk of the tokenized marker encoded by libmtmd.
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(text) { GpuLayerCount = 0, Threads = threads });
        var mtmdParams = MtmdContextParams.Default();
        mtmdParams.UseGpu = false;
        mtmdParams.NThreads = threads;
        using var mtmd = MtmdWeights.LoadFromFile(mmproj, weights, mtmdParams);
        using var bitmap = SafeMtmdEmbed.FromRgbBytes((uint)side, (uint)side, image.Pixels) ?? throw new InvalidOperationException("mmproj: mtmd_bitmap_init failed");
        var marker = NativeApi.MtmdDefaultMarker() ?? throw new InvalidOperationException("mmproj: libmtmd has no media marker");
        int status = mtmd.Tokenize(marker, false, true, [bitmap], out var chunks);
        if (status != 0 || chunks is null) throw new InvalidOperationException($"mmproj: mtmd_tokenize returned {status}");
        var (encode, output) = Entries();
        int k = 0;
        using (chunks)
            foreach (var chunk in chunks.Enumerate())
            {
                if (chunk.Type != SafeMtmdInputChunk.SafeMtmdInputChunkType.Image) continue;
                int tokens = (int)chunk.NTokens;
                IntPtr context = mtmd.NativeHandle.DangerousGetHandle();
                int rc;
                unsafe { rc = ((delegate* unmanaged<IntPtr, IntPtr, int>)encode)(context, chunk.NativePtr); }
                if (rc != 0) throw new InvalidOperationException($"mmproj: mtmd_encode_chunk returned {rc}");
                var embd = new float[tokens * width];
                unsafe { Marshal.Copy((IntPtr)((delegate* unmanaged<IntPtr, float*>)output)(context), embd, 0, embd.Length); }
                // The Ril tile of as many rows that is nearest (SmolVLM's chunks need not come in the processor's order).
                var (tile, maxDiff, rms) = ril.Select((r, t) => (t, Diff(r, embd))).Where(x => x.Item2.Max >= 0).Select(x => (x.t, x.Item2.Max, x.Item2.Rms))
                    .DefaultIfEmpty((-1, float.NaN, float.NaN)).MinBy(x => x.Item2);
                float scale = embd.Max(Math.Abs);
                Console.WriteLine($"mmproj model={name} type={typeName} chunk={k++} tokens={tokens} ril_tile={tile} max_abs_diff={maxDiff:G3} rms={rms:G3} max_abs={scale:G3}");
            }
        Console.WriteLine($"# {name}: Ril gives {ril.Length} tile(s) of {ril[0].Length / width} rows");
    }

    /// <summary>Max and root-mean-square difference; (−1, −1) when the lengths differ.</summary>
    static (float Max, float Rms) Diff(float[] a, float[] b)
    {
        if (a.Length != b.Length) return (-1, -1);
        double sum = 0;
        float max = 0;
        for (int i = 0; i < a.Length; i++) { float d = Math.Abs(a[i] - b[i]); max = Math.Max(max, d); sum += d * d; }
        return (max, (float)Math.Sqrt(sum / a.Length));
    }

    /// <summary>A smooth colour pattern with some texture, the same on every run.</summary>
    static Image TestImage(int side)
    {
        var image = new Image(side, side, 3);
        var rng = new Rng(7);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                for (int c = 0; c < 3; c++)
                    image.Pixels[(y * side + x) * 3 + c] = (byte)Math.Clamp(128 + 100 * Math.Sin((x * (c + 1) + y * (3 - c)) * 0.07) + rng.NextInt(21) - 10, 0, 255);
        return image;
    }

    /// <summary>libmtmd's mtmd_encode_chunk and mtmd_get_output_embd, from the library LLamaSharp has loaded.</summary>
    static (IntPtr Encode, IntPtr Output) Entries()
    {
        var path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length >= 6)
            .Select(f => f[5]).FirstOrDefault(p => Path.GetFileName(p).StartsWith("libmtmd"))
            ?? throw new InvalidOperationException("mmproj: libmtmd is not loaded");
        var library = NativeLibrary.Load(path);
        return (NativeLibrary.GetExport(library, "mtmd_encode_chunk"), NativeLibrary.GetExport(library, "mtmd_get_output_embd"));
    }
}

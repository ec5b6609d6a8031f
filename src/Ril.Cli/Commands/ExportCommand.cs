using System.CommandLine;
using Ril.Export;
using Ril.Hub;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril export gguf`: a model's decoder and tokenizer as a GGUF file for llama.cpp and ollama; `ril export mmproj`: a
/// VLM's vision tower and projector as the mmproj GGUF that llama.cpp's multimodal tools load beside it.
/// </summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var (model, output, type, baseModel) = FileOptions("norms and biases stay f32");
        var pre = new Option<string?>("--pre") { Description = "llama.cpp's pre-tokenizer name (qwen2, llama-bpe, gpt-2, smollm, ...) when tokenizer.json's is not recognised" };
        var gguf = new Command("gguf",
            "Write the model's decoder (the text part of a VLM) and its tokenizer as GGUF v3, laid out as llama.cpp's converter lays out " +
            "the same checkpoint: architecture llama, qwen2, qwen3 or qwen2vl; llama.cpp's tensor names; tokenizer.ggml.* with the pre-tokenizer name; the chat template.")
            { model, output, type, baseModel, pre };
        gguf.SetAction(parse => ErrorReporting.Run(() =>
        {
            var tensorType = TensorType(parse.GetValue(type));
            var (chat, tokenizerDir) = ExportSource.Load(ModelArgument.Resolve(parse.GetValue(model)!), ModelArgument.Resolve, parse.GetValue(baseModel));
            var summary = GgufExport.Write(chat.Model, tokenizerDir, parse.GetValue(output)!, tensorType, pre: parse.GetValue(pre));
            Console.WriteLine($"wrote {summary.Path}: architecture {summary.Architecture}, {summary.Tensors} tensors, {summary.Parameters / 1e6:F1}M parameters " +
                              $"({parse.GetValue(type)}), {summary.Vocab.Tokens.Count} tokens (pre-tokenizer {summary.Vocab.Pre}), {summary.Bytes / 1e6:F1} MB");
            return 0;
        }));
        var (mmprojModel, mmprojOut, mmprojType, mmprojBase) = FileOptions("norms, biases and embeddings as llama.cpp's converter keeps them");
        var mmproj = new Command("mmproj",
            "Write a VLM's vision tower and projector as the mmproj GGUF that llama.cpp's multimodal tools load (llama-mtmd-cli --mmproj), " +
            "laid out as llama.cpp's converter lays out the same checkpoint: Qwen2-VL, Qwen2.5-VL, Qwen3-VL and SmolVLM (Idefics3).")
            { mmprojModel, mmprojOut, mmprojType, mmprojBase };
        mmproj.SetAction(parse => ErrorReporting.Run(() =>
        {
            var dir = ModelArgument.Resolve(parse.GetValue(mmprojModel)!);
            var (chat, modelDir) = ExportSource.Load(dir, ModelArgument.Resolve, parse.GetValue(mmprojBase));
            var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir)));
            var summary = MmprojExport.Write(chat.Model, chat.Processor, parse.GetValue(mmprojOut)!, TensorType(parse.GetValue(mmprojType)), name);
            Console.WriteLine($"wrote {summary.Path}: projector {summary.ProjectorType}, {summary.Tensors} tensors, {summary.Parameters / 1e6:F1}M parameters " +
                              $"({parse.GetValue(mmprojType)}), {summary.Bytes / 1e6:F1} MB");
            return 0;
        }));
        return new Command("export", "Export a model for other runtimes") { gguf, mmproj };
    }

    /// <summary>The options both verbs take: the model (or adapter folder), the file to write, the matrices' type, the adapter's base.</summary>
    static (Option<string> Model, Option<string> Out, Option<string> Type, Option<string?> Base) FileOptions(string typeNote)
    {
        var model = new Option<string>("--model") { Description = $"Model: {ModelLocation.ArgumentDescription}; or a PEFT adapter folder (a LoRA run's adapter/), merged into its base", Required = true };
        var output = new Option<string>("--out") { Description = "The .gguf file to write (atomically: an existing file is replaced only when the new one is complete)", Required = true };
        var type = new Option<string>("--type") { Description = $"Weight type of the matrices: f32, f16 or bf16 ({typeNote})", DefaultValueFactory = _ => "f16" };
        type.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var baseModel = new Option<string?>("--base") { Description = "For an adapter folder: its base model (default: the adapter's base_model_name_or_path)" };
        return (model, output, type, baseModel);
    }

    static GgufTensorType TensorType(string? name) => name switch { "f32" => GgufTensorType.F32, "bf16" => GgufTensorType.BF16, _ => GgufTensorType.F16 };
}

namespace Ril.Hub;

/// <summary>
/// Which files of a Hub repository a model needs: the configs, the tokenizer files, the safetensors weights and their
/// index, small text files; weights in other formats only when the repository has no safetensors. Only top-level files:
/// subfolders hold other exports (onnx/, original/) that a model directory does not read.
/// </summary>
public static class HubModelFiles
{
    // Formats a safetensors checkpoint makes redundant (pickles, TensorFlow, Flax, GGUF, ONNX, rust-bert).
    static readonly string[] OtherWeightFormats = [".bin", ".pt", ".pth", ".h5", ".msgpack", ".gguf", ".onnx", ".ot", ".ckpt"];
    // Configs (config.json, generation_config.json, preprocessor/processor configs, the safetensors index), tokenizer
    // files (tokenizer.json, vocab.json, merges.txt, tokenizer.model, chat_template.jinja) and the model card.
    static readonly string[] Kept = [".json", ".jinja", ".txt", ".md", ".model", ".tiktoken", ".safetensors"];

    /// <summary>The files of <paramref name="repositoryFiles"/> to download, small ones first and the weights last.</summary>
    public static IReadOnlyList<string> Select(IEnumerable<string> repositoryFiles)
    {
        var topLevel = repositoryFiles.Where(f => !f.Contains('/')).Distinct().ToList();
        bool hasSafetensors = topLevel.Any(f => f.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase));
        return topLevel
            .Where(f => HasExtension(f, Kept) || (!hasSafetensors && HasExtension(f, OtherWeightFormats)))
            .OrderBy(IsWeights).ThenBy(f => f, StringComparer.Ordinal).ToList();
    }

    static bool IsWeights(string file) =>
        file.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || HasExtension(file, OtherWeightFormats);

    static bool HasExtension(string file, string[] extensions) =>
        extensions.Any(e => file.EndsWith(e, StringComparison.OrdinalIgnoreCase));
}

namespace Ril.Bench;

/// <summary>
/// Benchmark entry point: `dotnet run -c Release --project bench/Ril.Bench -- VERB [args]`. Each verb is a class of
/// its own with a static Run(string[] args); to add one, add a line to <see cref="Verbs"/>.
/// </summary>
public static class Program
{
    static readonly (string Name, string Help, Action<string[]> Run)[] Verbs =
    [
        ("gemm", "matrix-multiply GFLOP/s, Gemm vs OpenBLAS", GemmBench.Run),
        ("step", "training step time of a small decoder LM", StepBench.Run),
        ("fewrows", "few-row products with 0.5B-model weights (bf16 in place, bf16 blocks, float32) and the memory bandwidth", FewRowsBench.Run),
        ("decode", "greedy decoding tokens/s with a KV cache, batch 1 and 16; --model DIR: any model folder (prefill apart)", DecodeBench.Run),
        ("qwen2-checkpoint", "write a Qwen2-0.5B-layout model folder with random BF16 weights (--out DIR)", DecodeModelBench.WriteCheckpoint),
        ("sft", "SFT step time of the tiny student on the built-in suite, padded vs packed rows", SftBench.Run),
        ("rl", "one dr_grpo step with its breakdown (generation, log-probs, reward, update)", RlBench.Run),
        ("lora", "a RIL-like step on a Qwen2-0.5B-layout model with LoRA and a bf16 frozen base: time and memory", LoraBench.Run),
        ("vlm", "real VLM layouts (qwen3vl-2b, qwen2.5vl-3b, qwen3.5-0.8b, smolvlm-256m, smolvlm-500m): `decode` tokens/s at batch 1 and 8, `vision` images/s, the RIL step with `lora` or `full`", VlmBench.Run),
        ("gated-delta", "the gated delta rule at Qwen3.5-0.8B's layer sizes: forward, backward (states kept / recomputed), decoding step", GatedDeltaBench.Run),
        ("llamacpp", "llama.cpp (LLamaSharp) greedy decoding tokens/s on the GGUF `ril export gguf` writes of a model folder; --check: same tokens as Ril", LlamaCppBench.Run),
        ("mmproj", "llama.cpp (libmtmd via LLamaSharp) encodes an image with the mmproj `ril export mmproj` writes of a VLM folder: its image embeddings against Ril's", MmprojBench.Run),
    ];

    public static int Main(string[] args)
    {
        var verb = args.Length > 0 ? Array.Find(Verbs, v => v.Name == args[0]) : default;
        if (verb.Run == null)
        {
            Console.Error.WriteLine("usage: Ril.Bench VERB [args]\nverbs:");
            foreach (var v in Verbs) Console.Error.WriteLine($"  {v.Name,-17} {v.Help}");
            return args.Length == 0 ? 1 : 2;
        }
        verb.Run(args[1..]);
        return 0;
    }
}

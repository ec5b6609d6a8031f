using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;

namespace Ril.Models.Generation;

/// <summary>Told of each token the moment it is sampled: sample <paramref name="sample"/> of request <paramref name="request"/> (stop tokens included).</summary>
public delegate void TokenSampled(int request, int sample, int token);

/// <summary>
/// Batched sampling with a KV cache. Prompts of different lengths are left-padded into one batch and prefilled once;
/// each prompt's cache rows are then forked for its samples (prefix sharing, as inference servers do), and all
/// samples decode together one token per step. Every sample has its own random stream, so a result does not depend
/// on what else was in the batch.
/// </summary>
public sealed class Generator(ICausalLM model, Func<int[], string>? detokenize = null, int padId = 0)
{
    public ICausalLM Model { get; } = model;

    /// <param name="onToken">called on this thread with every token as it is sampled (for streaming)</param>
    public IReadOnlyList<IReadOnlyList<GeneratedSequence>> Generate(IReadOnlyList<GenerationRequest> requests, SamplingOptions options,
                                                                    TokenSampled? onToken = null)
    {
        options.Validate();
        if (options.StopStrings.Count > 0 && detokenize is null)
            throw new ArgumentException("Generator: stop strings need a detokenizer");
        if (requests.Count == 0) return [];
        using var noGrad = NoGrad.Begin();
        using var scope = TensorScope.Begin();
        var lm = Model;
        int prompts = requests.Count, promptLen = requests.Max(r => r.PromptIds.Length);
        if (requests.Any(r => r.PromptIds.Length == 0)) throw new ArgumentException("Generator: an empty prompt");
        int capacity = promptLen + options.MaxNewTokens;

        // Prefill: left-padded prompts, each sequence's positions from its first real token.
        var builder = new ModelInputs.Builder(lm, prompts, promptLen, padId);
        var keyValid = new bool[prompts * capacity];
        var nextPositions = new int[prompts];
        for (int b = 0; b < prompts; b++)
        {
            var p = requests[b].PromptIds;
            int pad = promptLen - p.Length;
            builder.Place(b * promptLen + pad, p, p.Length, requests[b].Pixels);
            for (int t = pad; t < promptLen; t++) keyValid[b * capacity + t] = true;
        }
        var inputs = builder.Build();
        for (int b = 0; b < prompts; b++) nextPositions[b] = LargestPosition(inputs, b) + 1;
        KvCache cache;
        Tensor promptLogits;
        using (var promptCache = lm.NewCache(prompts, capacity))
        {
            var hidden = lm.Hidden(inputs, promptCache, keyValid);
            var lastRows = Enumerable.Range(0, prompts).Select(b => b * promptLen + promptLen - 1).ToArray();
            promptLogits = lm.Head(Ops.Embedding(Ops.Reshape(hidden, -1, lm.HiddenSize), lastRows));
            // Fork: sample s of prompt b becomes row Σ_{b'<b} n_b' + s.
            cache = promptCache.Repeat(requests.Select(r => r.NumSamples).ToArray());
        }
        using var ownedCache = cache;
        var counts = requests.Select(r => r.NumSamples).ToArray();
        int rows = counts.Sum(), vocab = lm.VocabSize;
        var samples = new List<Sample>(rows);
        var sampleIndex = new int[rows];
        var rowValid = new bool[rows * capacity];
        for (int b = 0, row = 0; b < prompts; b++)
            for (int s = 0; s < counts[b]; s++, row++)
            {
                sampleIndex[row] = s;
                samples.Add(new Sample(b, new Rng(requests[b].Seed + (ulong)s), requests[b].PromptIds, nextPositions[b]));
                Array.Copy(keyValid, b * capacity, rowValid, row * capacity, promptLen);
            }
        var logits = new float[rows * vocab];
        for (int r = 0; r < rows; r++) promptLogits.Data.Slice(samples[r].Prompt * vocab, vocab).CopyTo(logits.AsSpan(r * vocab, vocab));

        // Row i of the batch (and of the cache) decodes sample live[i]; a sample that finishes leaves the batch, so it
        // costs nothing more. The buffers below are allocated once, not per token.
        var live = Enumerable.Range(0, rows).ToArray();
        var next = new int[rows];
        var stepPositions = new int[rows];
        var keptRows = new int[rows];
        var drawn = new int[rows];
        var drawnLogProbs = new float[rows];
        var drawnEntropies = new float[rows];
        // Row i's draw depends only on its logits and its sample's own random stream, so the rows are drawn on every
        // thread (softmax over a 150k vocabulary is a tenth of a rollout when drawn one row after another); the samples
        // then take their tokens in row order. Which thread draws a row never changes what it draws.
        void Draw(int start, int end)
        {
            var scratch = System.Buffers.ArrayPool<float>.Shared.Rent(vocab);                 // the sampler works on a copy
            try
            {
                for (int i = start; i < end; i++)
                {
                    var sample = samples[live[i]];
                    var raw = logits.AsSpan(i * vocab, vocab);
                    var copy = scratch.AsSpan(0, vocab);
                    raw.CopyTo(copy);
                    if (Model.ImageTokenId >= 0 && Model.ImageTokenId < vocab) copy[Model.ImageTokenId] = float.NegativeInfinity;   // a response never holds an image slot
                    try { drawn[i] = TokenSampler.Next(copy, options, sample.Seen, sample.Rng); }
                    catch (NonFiniteLogitsException e) { throw new NonFiniteLogitsException($"{e.Message} (prompt {sample.Prompt + 1} of {prompts}, response token {sample.Tokens.Count + 1})"); }
                    float lse = Ops.LogSumExp(raw);
                    drawnLogProbs[i] = raw[drawn[i]] - lse;                                          // the model's own log-probability
                    if (options.RecordEntropy) drawnEntropies[i] = Ops.Entropy(raw, lse);
                }
            }
            finally { System.Buffers.ArrayPool<float>.Shared.Return(scratch); }
        }
        Action<int, int> draw = Draw;                                                             // one delegate for every step
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            Ril.Tensors.Kernels.WorkerPool.Shared.ForRange(live.Length, 1, draw);
            for (int i = 0; i < live.Length; i++)
            {
                var sample = samples[live[i]];
                int token = drawn[i];
                if (options.RecordEntropy) sample.Entropies.Add(drawnEntropies[i]);
                sample.Append(token, drawnLogProbs[i], options, detokenize);
                onToken?.Invoke(sample.Prompt, sampleIndex[live[i]], token);
                next[i] = token;
                stepPositions[i] = sample.NextPosition++;
                rowValid[i * capacity + cache.Length] = true;
            }
            if (step == options.MaxNewTokens - 1) break;
            int kept = 0;
            for (int i = 0; i < live.Length; i++)
                if (!samples[live[i]].Finished) keptRows[kept++] = i;
            if (kept == 0) break;
            if (kept < live.Length)
            {
                // Finished rows leave the batch: the cache drops them in place, and so do the rows' flags and inputs.
                cache.Keep(keptRows.AsSpan(0, kept));
                for (int i = 0; i < kept; i++)
                {
                    int from = keptRows[i];
                    (live[i], next[i], stepPositions[i]) = (live[from], next[from], stepPositions[from]);
                    if (from != i) Array.Copy(rowValid, from * capacity, rowValid, i * capacity, capacity);
                }
                (live, next, stepPositions) = (live[..kept], next[..kept], stepPositions[..kept]);
            }
            using var stepScope = TensorScope.Begin();
            var h = lm.Hidden(ModelInputs.Decode(next, stepPositions, lm.PositionRank), cache, rowValid);
            lm.Head(h).Data.CopyTo(logits);
        }

        var result = new List<IReadOnlyList<GeneratedSequence>>();
        for (int b = 0, row = 0; b < prompts; b++)
        {
            var list = new List<GeneratedSequence>();
            for (int s = 0; s < counts[b]; s++, row++) list.Add(samples[row].ToSequence(options, detokenize));
            result.Add(list);
        }
        return result;
    }

    /// <summary>The largest position id of row <paramref name="row"/>'s prompt on any plane: generated text continues after it.</summary>
    static int LargestPosition(ModelInputs inputs, int row)
    {
        int n = inputs.Rows * inputs.Length, largest = 0;
        for (int r = 0; r < inputs.PositionRank; r++)
            for (int t = 0; t < inputs.Length; t++) largest = Math.Max(largest, inputs.Positions[r * n + row * inputs.Length + t]);
        return largest;
    }

    /// <summary>One response being generated.</summary>
    sealed class Sample(int prompt, Rng rng, int[] promptIds, int nextPosition)
    {
        public readonly int Prompt = prompt;
        public readonly Rng Rng = rng;
        public readonly HashSet<int> Seen = [.. promptIds];
        public readonly List<int> Tokens = [];
        public readonly List<float> LogProbs = [];
        public readonly List<float> Entropies = [];
        public int NextPosition = nextPosition;
        public string? FinishReason;
        public string? CutText;
        public bool Finished => FinishReason is not null;

        public void Append(int token, float logProb, SamplingOptions o, Func<int[], string>? detokenize)
        {
            Tokens.Add(token);
            LogProbs.Add(logProb);
            Seen.Add(token);
            if (o.StopTokens.Contains(token)) { FinishReason = GeneratedSequence.Stop; return; }
            if (o.StopStrings.Count > 0)
            {
                var text = detokenize!([.. Tokens]);
                foreach (var stop in o.StopStrings)
                {
                    int at = text.IndexOf(stop, StringComparison.Ordinal);
                    if (at >= 0) { CutText = text[..at]; FinishReason = GeneratedSequence.Stop; return; }
                }
            }
            if (Tokens.Count >= o.MaxNewTokens) FinishReason = GeneratedSequence.Length;
        }

        public GeneratedSequence ToSequence(SamplingOptions o, Func<int[], string>? detokenize)
        {
            string? text = CutText;
            if (text is null && detokenize is not null)
            {
                var ids = Tokens.Count > 0 && o.StopTokens.Contains(Tokens[^1]) ? Tokens.GetRange(0, Tokens.Count - 1) : Tokens;
                text = detokenize([.. ids]);
            }
            return new GeneratedSequence([.. Tokens], [.. LogProbs], FinishReason ?? GeneratedSequence.Length, text,
                o.RecordEntropy ? [.. Entropies] : null);
        }
    }
}

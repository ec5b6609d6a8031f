using Ril.Tensors;

namespace Ril.Models;

/// <summary>
/// One forward's input, whatever the family: <see cref="Rows"/> rows of <see cref="Length"/> token ids, their position
/// ids (<see cref="PositionRank"/> planes of Rows·Length: 1 for plain RoPE, 3 for multimodal RoPE), which positions hold
/// real tokens, the sequence each position belongs to when several share a row, and the image slots in position order
/// with the pixels that fill them in the same order. Built only by <see cref="Builder"/> (the generator's left-padded
/// prompts, the log-probs' padded or packed rows, the scalar head's right-padded rows) and by <see cref="Decode"/>.
/// </summary>
public sealed class ModelInputs
{
    public int Rows { get; }
    public int Length { get; }
    public int[] Ids { get; }
    public int PositionRank { get; }
    /// <summary>Plane r holds the r-th position component of every token: [rank, Rows·Length].</summary>
    public int[] Positions { get; }
    public bool[] Valid { get; }
    /// <summary>Sequence number of each position (−1: padding) when rows are packed; null when each row is one sequence.</summary>
    public int[]? Segments { get; }
    /// <summary>With shared prompts: the number of the prompt each position's sequence continues (−1: none); null otherwise.</summary>
    public int[]? Prefixes { get; }
    /// <summary>Flat positions whose embedding is an image feature row, in order.</summary>
    public IReadOnlyList<int> ImageSlots => _imageSlots;
    /// <summary>Pixels of the images whose features fill <see cref="ImageSlots"/>, in the same order; null when none.</summary>
    public PixelInputs? Pixels { get; private set; }
    /// <summary>The pixels of each placed sequence that has images, in order (<see cref="Pixels"/> is their concatenation).</summary>
    public IReadOnlyList<PixelInputs> PixelParts { get; private set; } = [];

    readonly List<int> _imageSlots = [];

    ModelInputs(int rows, int length, int positionRank, int[] ids, int[] positions, bool[] valid, int[]? segments, int[]? prefixes = null)
    {
        (Rows, Length, PositionRank, Ids, Positions, Valid, Segments, Prefixes) = (rows, length, positionRank, ids, positions, valid, segments, prefixes);
    }

    /// <summary>The attention mask of these rows: causal, padding masked, packed sequences apart, continuations seeing their prompt.</summary>
    public AttentionMask Mask => new(true, Valid, Segments: Segments, Prefixes: Prefixes);

    /// <summary>Position plane 0, the only one a 1-D RoPE model reads; throws for a model that needs more.</summary>
    public int[] Positions1D => PositionRank == 1 ? Positions
        : throw new InvalidOperationException($"ModelInputs: these inputs carry {PositionRank}-D positions; this model reads 1-D ones");

    /// <summary>
    /// One decoding step: token <paramref name="ids"/>[r] of row r at the next position of that row's sequence. The
    /// positions of text generated after a prompt are the prompt's largest position + 1, + 2, … on every plane (plain
    /// RoPE: simply the index; Qwen2-VL's multimodal RoPE follows the same rule).
    /// </summary>
    public static ModelInputs Decode(int[] ids, int[] nextPositions, int positionRank)
    {
        if (ids.Length != nextPositions.Length) throw new ArgumentException($"ModelInputs.Decode: {ids.Length} ids, {nextPositions.Length} positions");
        var positions = new int[positionRank * ids.Length];
        for (int r = 0; r < positionRank; r++) nextPositions.CopyTo(positions, r * ids.Length);
        var valid = new bool[ids.Length];
        Array.Fill(valid, true);
        return new ModelInputs(ids.Length, 1, positionRank, ids, positions, valid, null);
    }

    /// <summary>Lays sequences into rows: each sequence's tokens, positions from the model's position scheme, image slots and pixels.</summary>
    public sealed class Builder
    {
        readonly ModelInputs _inputs;
        readonly ICausalLM _model;
        readonly List<PixelInputs> _pixels = [];
        int _lastSlotEnd = -1;

        /// <param name="packed">several sequences may share a row (each attends only to itself)</param>
        /// <param name="sharedPrompts">packed, and some sequences continue a prompt placed once (<see cref="PlaceContinuation"/>)</param>
        public Builder(ICausalLM model, int rows, int length, int padId, bool packed = false, bool sharedPrompts = false)
        {
            packed |= sharedPrompts;
            if (rows < 1 || length < 1) throw new ArgumentException($"ModelInputs: {rows} rows of {length} positions");
            _model = model;
            int n = rows * length, rank = model.PositionRank;
            var ids = new int[n];
            Array.Fill(ids, padId);
            int[]? segments = packed ? new int[n] : null;
            if (segments is not null) Array.Fill(segments, -1);
            int[]? prefixes = sharedPrompts ? new int[n] : null;
            if (prefixes is not null) Array.Fill(prefixes, -1);
            _inputs = new ModelInputs(rows, length, rank, ids, new int[rank * n], new bool[n], segments, prefixes);
        }

        /// <summary>
        /// Places sequence <paramref name="sequence"/> (number <paramref name="segment"/>) at flat position <paramref name="at"/>:
        /// its ids, its positions (from its start, whatever padding precedes it), and, for its first
        /// <paramref name="promptLength"/> tokens, the image slots its <paramref name="pixels"/> fill: a placeholder id
        /// inside a response is plain text. Sequences with images must be placed in position order.
        /// </summary>
        public Builder Place(int at, ReadOnlySpan<int> sequence, int promptLength, PixelInputs? pixels, int segment = 0)
        {
            var m = _inputs;
            int n = m.Rows * m.Length;
            if (at < 0 || at + sequence.Length > n || (at % m.Length) + sequence.Length > m.Length)
                throw new ArgumentException($"ModelInputs: a sequence of {sequence.Length} at {at} does not fit a row of {m.Length}");
            var positions = _model.SequencePositions(sequence, pixels);
            for (int j = 0; j < sequence.Length; j++)
            {
                m.Ids[at + j] = sequence[j];
                m.Valid[at + j] = true;
                if (m.Segments is not null) m.Segments[at + j] = segment;
                for (int r = 0; r < m.PositionRank; r++) m.Positions[r * n + at + j] = positions[r * sequence.Length + j];
            }
            if (pixels is null) return this;
            if (at < _lastSlotEnd) throw new ArgumentException("ModelInputs: sequences with images must be placed in position order");
            for (int j = 0; j < promptLength; j++)
                if (sequence[j] == _model.ImageTokenId) m._imageSlots.Add(at + j);
            _pixels.Add(pixels);
            _lastSlotEnd = at + sequence.Length;
            return this;
        }

        /// <summary>
        /// Places <paramref name="continuation"/> (number <paramref name="segment"/>) at flat position <paramref name="at"/>, after
        /// <paramref name="prompt"/> placed earlier in the same row as segment <paramref name="promptSegment"/>: it attends to
        /// that prompt and to itself, and its positions are those it would have right after its own copy of the prompt
        /// (the model's position scheme over prompt + continuation, images included). It adds no image slots.
        /// </summary>
        public Builder PlaceContinuation(int at, ReadOnlySpan<int> prompt, ReadOnlySpan<int> continuation, PixelInputs? pixels, int segment, int promptSegment)
        {
            var m = _inputs;
            int n = m.Rows * m.Length;
            if (m.Prefixes is null) throw new InvalidOperationException("ModelInputs: a continuation needs a builder made with sharedPrompts");
            if (continuation.IsEmpty) return this;
            if (at < 0 || at + continuation.Length > n || (at % m.Length) + continuation.Length > m.Length)
                throw new ArgumentException($"ModelInputs: a continuation of {continuation.Length} at {at} does not fit a row of {m.Length}");
            int row = at / m.Length, p = prompt.Length, total = p + continuation.Length;
            if (Array.IndexOf(m.Segments!, promptSegment, row * m.Length, at - row * m.Length) < 0)
                throw new ArgumentException($"ModelInputs: prompt segment {promptSegment} is not placed before {at} in its row");
            var positions = _model.SequencePositions([.. prompt, .. continuation], pixels);
            for (int j = 0; j < continuation.Length; j++)
            {
                m.Ids[at + j] = continuation[j];
                m.Valid[at + j] = true;
                m.Segments![at + j] = segment;
                m.Prefixes[at + j] = promptSegment;
                for (int r = 0; r < m.PositionRank; r++) m.Positions[r * n + at + j] = positions[r * total + p + j];
            }
            return this;
        }

        /// <summary>Positions of padding after a sequence ending at <paramref name="end"/>: counting on, as if the sequence went on.</summary>
        public Builder ContinuePositions(int end, int count)
        {
            var m = _inputs;
            int n = m.Rows * m.Length;
            for (int j = 0; j < count; j++)
                for (int r = 0; r < m.PositionRank; r++) m.Positions[r * n + end + j] = m.Positions[r * n + end - 1] + j + 1;
            return this;
        }

        public ModelInputs Build()
        {
            _inputs.Pixels = _pixels.Count == 0 ? null : PixelInputs.Concat(_pixels);
            _inputs.PixelParts = _pixels.ToArray();
            return _inputs;
        }
    }
}

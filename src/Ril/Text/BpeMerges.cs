namespace Ril.Text;

/// <summary>
/// The merge table of a BPE vocabulary: which adjacent pair of tokens becomes which token, and how early
/// (rank = position in tokenizer.json's merges; lower merges first).
/// </summary>
public sealed class BpeMerges
{
    readonly Dictionary<long, int> rankByPair;
    readonly List<int> resultByRank;

    public BpeMerges(int capacity = 0)
    {
        rankByPair = new Dictionary<long, int>(capacity, PairComparer.Instance);
        resultByRank = new List<int>(capacity);
    }

    public int Count => resultByRank.Count;

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    // long's own hash is high ^ low, i.e. left ^ right here: pairs of ids collide massively
    // (measured: 150× slower lookups on Qwen's merges). A multiplicative hash spreads them.
    internal sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();
        public bool Equals(long a, long b) => a == b;
        public int GetHashCode(long key) => (int)((ulong)key * 0x9E3779B97F4A7C15UL >> 32);
    }

    /// <summary>Adds the next merge; a pair listed twice keeps its first (lower) rank, as Hugging Face's does.</summary>
    public void Add(int left, int right, int result)
    {
        if (rankByPair.TryAdd(Key(left, right), resultByRank.Count)) resultByRank.Add(result);
    }

    public bool TryGetRank(int left, int right, out int rank) => rankByPair.TryGetValue(Key(left, right), out rank);

    public int ResultOf(int rank) => resultByRank[rank];

    // Below this many symbols the rank-array scan beats the heap's bookkeeping.
    const int HeapThreshold = 48;

    /// <summary>
    /// Applies merges to a word in place and returns its new length. The rule is Hugging Face's: the
    /// pair of lowest rank merges first, the leftmost of equal ranks first, and pairs a merge creates
    /// join the competition.
    /// </summary>
    public int Apply(Span<int> symbols) =>
        symbols.Length < 2 ? symbols.Length
        : symbols.Length < HeapThreshold ? ApplyByScan(symbols) : ApplyByHeap(symbols);

    /// <summary>O(n²): keeps the rank of each adjacent pair and rescans for the minimum after each merge.</summary>
    internal int ApplyByScan(Span<int> symbols)
    {
        int n = symbols.Length;
        Span<int> ranks = n <= 256 ? stackalloc int[n] : new int[n]; // ranks[i]: pair (i, i+1)
        for (int i = 0; i + 1 < n; i++) ranks[i] = PairRank(symbols[i], symbols[i + 1]);
        while (n > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < n; i++)
                if (ranks[i] < bestRank) { bestRank = ranks[i]; best = i; }
            if (best < 0) break;
            symbols[best] = resultByRank[bestRank];
            symbols[(best + 2)..n].CopyTo(symbols[(best + 1)..]);
            if (best + 2 < n - 1) ranks[(best + 2)..(n - 1)].CopyTo(ranks[(best + 1)..]);
            n--;
            if (best > 0) ranks[best - 1] = PairRank(symbols[best - 1], symbols[best]);
            if (best + 1 < n) ranks[best] = PairRank(symbols[best], symbols[best + 1]);
        }
        return n;
    }

    /// <summary>O(n log n): symbols in a linked list, candidate merges in a heap ordered by (rank, position).</summary>
    internal int ApplyByHeap(Span<int> symbols)
    {
        int n = symbols.Length;
        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; alive[i] = true; }
        // Priority (rank << 32 | position): ties in rank go to the leftmost pair. A merge only ever keeps the
        // left symbol's position, so positions stay in text order.
        var heap = new PriorityQueue<(int Position, int Result), long>(n);
        for (int i = 0; i + 1 < n; i++) Push(heap, symbols, next, i);
        while (heap.TryDequeue(out var candidate, out _))
        {
            int left = candidate.Position;
            if (!alive[left]) continue;
            int right = next[left];
            // Stale entry: the pair changed since it was queued.
            if (right < 0 || !TryGetRank(symbols[left], symbols[right], out var rank) || resultByRank[rank] != candidate.Result) continue;
            symbols[left] = candidate.Result;
            alive[right] = false;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            if (prev[left] >= 0) Push(heap, symbols, next, prev[left]);
            Push(heap, symbols, next, left);
        }
        int count = 0;
        for (int i = 0; i >= 0 && i < n; i = next[i]) symbols[count++] = symbols[i];
        return count;
    }

    void Push(PriorityQueue<(int Position, int Result), long> heap, Span<int> symbols, int[] next, int position)
    {
        int right = next[position];
        if (right < 0 || !TryGetRank(symbols[position], symbols[right], out var rank)) return;
        heap.Enqueue((position, resultByRank[rank]), ((long)rank << 32) | (uint)position);
    }

    int PairRank(int left, int right) => TryGetRank(left, right, out var rank) ? rank : int.MaxValue;
}

using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Ril.Tensors.Kernels;

/// <summary>
/// A small persistent thread pool for data-parallel kernels.
/// <para>
/// Why not <c>Parallel.For</c>: it costs several microseconds per call and hands out indices dynamically, so the
/// thread that computes a given index changes from run to run. Here a dispatch is a store to a volatile generation
/// counter that spinning workers watch (a few hundred nanoseconds when they are awake), and the work is cut the same
/// way every time for a given thread count: T contiguous blocks [w·count/T, (w+1)·count/T), each run in index order
/// by one thread — block w by worker w, except that the caller, once done with block 0, runs any block whose worker
/// has not started it yet (a blocked worker takes tens of microseconds to wake). Which thread runs a block never
/// changes what it computes, so results are deterministic for a given thread count.
/// </para>
/// <para>
/// Workers spin for <see cref="SpinMicroseconds"/> after their last job (kernels come in bursts: one training step
/// is thousands of back-to-back calls), then block on an event so an idle pool burns no core. Waking a blocked
/// worker costs the dispatcher ~20–40 µs on the VM this was measured on, hence the generous spin.
/// The calling thread runs block 0 itself. A call made from inside a body (or while another thread is
/// dispatching on the same pool) runs serially on the calling thread, which is always correct because the
/// assignment of work to indices never depends on which thread runs it. Bodies must therefore not wait on one
/// another. Measured (2 cores, awake workers): ~0.3–0.6 µs per dispatch beyond the work itself, against
/// 3–6 µs for <c>Parallel.For</c>.
/// </para>
/// </summary>
public sealed unsafe class WorkerPool
{
    /// <summary>How long an idle worker spins before it blocks.</summary>
    const long SpinMicroseconds = 500;

    static readonly object s_sharedLock = new();
    static WorkerPool? s_shared;

    /// <summary>The process-wide pool: <c>RIL_THREADS</c> threads if that variable is set, else one per processor.</summary>
    public static WorkerPool Shared
    {
        get
        {
            var p = Volatile.Read(ref s_shared);
            if (p != null) return p;
            lock (s_sharedLock)
            {
                s_shared ??= new WorkerPool(DefaultThreads());
                return s_shared;
            }
        }
    }

    /// <summary>Replaces <see cref="Shared"/> by a pool of <paramref name="threads"/> threads (the old one is shut down
    /// once any call running on it has finished).</summary>
    public static void SetThreads(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        WorkerPool? old;
        lock (s_sharedLock)
        {
            old = s_shared;
            if (old != null && old.Threads == threads) return;
            s_shared = new WorkerPool(threads);
        }
        old?.Shutdown();
    }

    static int DefaultThreads()
    {
        var s = Environment.GetEnvironmentVariable("RIL_THREADS");
        if (s != null && int.TryParse(s, out int t) && t >= 1) return t;
        return Math.Max(1, Environment.ProcessorCount);
    }

    /// <summary>Number of threads that run a <see cref="For(int, Action{int})"/>, the caller included.</summary>
    public int Threads { get; }

    // ---- dispatch state, written by the dispatching thread before the generation bump ----
    readonly Thread[] _workers;
    readonly ManualResetEventSlim[] _wake;
    readonly int[] _sleeping;              // 1 while worker w is (about to be) blocked on _wake[w]
    int _generation;                       // bumped once per dispatch; read with Volatile.Read
    int _pending;                          // worker blocks of the current job not finished yet
    readonly int[] _claims;                // _claims[w·Pad] = 1 once block w+1 of the current job has been taken
    const int Pad = 16;                    // one cache line per claim flag
    int _count;
    Action<int>? _body;
    delegate*<void*, int, void> _fn;
    void* _state;
    Exception? _error;
    volatile bool _shutdown;
    readonly object _dispatchLock = new();

    /// <summary>True on a thread that is currently running a body of some pool (nested calls go serial).</summary>
    [ThreadStatic] static int t_depth;

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        Threads = threads;
        _workers = new Thread[threads - 1];
        _wake = new ManualResetEventSlim[threads - 1];
        _sleeping = new int[threads - 1];
        _claims = new int[Math.Max(1, threads - 1) * Pad];
        for (int w = 0; w < _workers.Length; w++)
        {
            _wake[w] = new ManualResetEventSlim(false);
            int id = w + 1;
            _workers[w] = new Thread(() => WorkerLoop(id)) { IsBackground = true, Name = $"ril-worker-{id}" };
            _workers[w].Start();
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/>(i) for every i in [0, count) and returns when all are done. Thread w of T runs
    /// the contiguous block [w·count/T, (w+1)·count/T). The first exception thrown by a body is rethrown here.
    /// </summary>
    public void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        Run(count, body, null, null);
    }

    /// <summary>
    /// Splits [0, n) into at most <see cref="Threads"/> contiguous ranges of at least <paramref name="minChunk"/>
    /// items each (one range if n &lt; 2·minChunk) and runs body(start, end) for each.
    /// </summary>
    public void ForRange(int n, int minChunk, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (n <= 0) return;
        int chunks = (int)Math.Clamp((long)n / Math.Max(1, minChunk), 1, Threads);
        if (chunks == 1) { body(0, n); return; }
        For(chunks, i => body((int)((long)n * i / chunks), (int)((long)n * (i + 1) / chunks)));
    }

    /// <summary>Allocation-free variant for kernels: fn(state, i) for i in [0, count). <paramref name="state"/> must
    /// stay valid until the call returns (a pointer to a caller's local is fine: the call blocks).</summary>
    internal void For(int count, delegate*<void*, int, void> fn, void* state) => Run(count, null, fn, state);

    /// <summary>How many threads a call made now from this thread would get (1 inside a body).</summary>
    internal int AvailableThreads => t_depth > 0 ? 1 : Threads;

    void Run(int count, Action<int>? body, delegate*<void*, int, void> fn, void* state)
    {
        if (count <= 0) return;
        if (count == 1 || Threads == 1 || t_depth > 0 || _shutdown || !Monitor.TryEnter(_dispatchLock))
        {
            RunSerial(0, count, body, fn, state);
            return;
        }
        try
        {
            if (_shutdown) { RunSerial(0, count, body, fn, state); return; }
            _count = count;
            _body = body;
            _fn = fn;
            _state = state;
            _error = null;
            Volatile.Write(ref _pending, _workers.Length);
            for (int w = 0; w < _workers.Length; w++) Volatile.Write(ref _claims[w * Pad], 0);
            // Full fence (Interlocked) before reading _sleeping: pairs with the worker's Interlocked.Exchange on
            // _sleeping followed by its read of _generation, so either it sees the new generation or we see it asleep.
            Interlocked.Increment(ref _generation);
            for (int w = 0; w < _workers.Length; w++)
                if (Volatile.Read(ref _sleeping[w]) != 0) _wake[w].Set();

            RunBlock(0, body, fn, state);

            // Run any block its worker has not picked up yet rather than wait for it: a worker that was blocked takes
            // tens of microseconds to wake. Which thread runs a block never changes what the block computes.
            for (int w = 0; w < _workers.Length; w++)
                if (Interlocked.Exchange(ref _claims[w * Pad], 1) == 0)
                {
                    RunBlock(w + 1, body, fn, state);
                    Interlocked.Decrement(ref _pending);
                }

            var sw = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) sw.SpinOnce(-1);

            _body = null;
            _state = null;
            var err = _error;
            _error = null;
            if (err != null) ExceptionDispatchInfo.Capture(err).Throw();
        }
        finally
        {
            Monitor.Exit(_dispatchLock);
        }
    }

    static void RunSerial(int start, int end, Action<int>? body, delegate*<void*, int, void> fn, void* state)
    {
        t_depth++;
        try
        {
            if (body != null) for (int i = start; i < end; i++) body(i);
            else for (int i = start; i < end; i++) fn(state, i);
        }
        finally { t_depth--; }
    }

    void RunBlock(int w, Action<int>? body, delegate*<void*, int, void> fn, void* state)
    {
        int count = _count;
        int start = (int)((long)count * w / Threads);
        int end = (int)((long)count * (w + 1) / Threads);
        if (start >= end) return;
        try { RunSerial(start, end, body, fn, state); }
        catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
    }

    void WorkerLoop(int id)
    {
        int w = id - 1;
        int seen = 0;                      // the generation a fresh pool starts at (no dispatch can precede the constructor)
        long spinTicks = SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
        while (true)
        {
            long spinStart = Stopwatch.GetTimestamp();
            int polls = 0;
            while (Volatile.Read(ref _generation) == seen)
            {
                // A short pause between polls keeps the reaction time to a new job low; the clock is read only now
                // and then because it costs more than a poll.
                Thread.SpinWait(1);
                if ((++polls & 63) != 0) continue;
                if (_shutdown) return;
                if (Stopwatch.GetTimestamp() - spinStart < spinTicks) continue;
                _wake[w].Reset();
                Interlocked.Exchange(ref _sleeping[w], 1);
                if (Volatile.Read(ref _generation) == seen && !_shutdown) _wake[w].Wait();
                Volatile.Write(ref _sleeping[w], 0);
                spinStart = Stopwatch.GetTimestamp();
            }
            seen = Volatile.Read(ref _generation);
            if (_shutdown) return;
            // The claim (a full fence) orders the reads of the job fields after the dispatcher's writes of them.
            if (Interlocked.Exchange(ref _claims[w * Pad], 1) == 0)
            {
                RunBlock(id, _body, _fn, _state);
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    void Shutdown()
    {
        lock (_dispatchLock)
        {
            _shutdown = true;
            for (int w = 0; w < _workers.Length; w++) _wake[w].Set();
        }
    }
}

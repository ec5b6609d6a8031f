namespace Ril.Tensors.Kernels;

/// <summary>Splits elementwise work into cache-sized chunks, spread over the worker pool when large enough to pay for it.</summary>
internal static class Chunks
{
    /// <summary>Chunk length: small enough for L1-resident temporaries in kernels.</summary>
    public const int Size = 2048;
    /// <summary>Below this many elements a single thread is faster than dispatching.</summary>
    const int ParallelThreshold = 1 << 15;

    public delegate void Body(int start, int length);

    public static void For(int n, Body body)
    {
        if (n < ParallelThreshold || WorkerPool.Shared.Threads == 1)
        {
            for (int s = 0; s < n; s += Size) body(s, Math.Min(Size, n - s));
            return;
        }
        WorkerPool.Shared.ForRange(n, Size * 4, (start, end) =>
        {
            for (int s = start; s < end; s += Size) body(s, Math.Min(Size, end - s));
        });
    }

    /// <summary>Parallel over independent rows (softmax, norms): [start, end) row ranges.</summary>
    public static void Rows(int rows, int cols, Action<int, int> body)
    {
        if ((long)rows * cols < ParallelThreshold || WorkerPool.Shared.Threads == 1 || rows == 1) { body(0, rows); return; }
        WorkerPool.Shared.ForRange(rows, Math.Max(1, Size * 4 / Math.Max(cols, 1)), body);
    }
}

namespace Ril.Tensors.Memory;

/// <summary>
/// Float arrays kept by exact length for reuse. Training repeats the same shapes every step, so after the first
/// step every tensor buffer is a reused one. Pooled memory is capped so shapes that never recur cannot hoard it.
/// </summary>
public static class BufferPool
{
    static readonly Dictionary<int, Stack<float[]>> Free = new();
    static readonly Lock Gate = new();
    static long _pooledFloats;

    /// <summary>At most this many floats are kept idle in the pool (default: <see cref="DefaultCapacityFloats"/>; env RIL_POOL_MB).</summary>
    public static long CapacityFloats { get; set; } =
        DefaultCapacityFloats(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, Environment.GetEnvironmentVariable("RIL_POOL_MB"));

    /// <summary>
    /// RIL_POOL_MB when set; otherwise a third of the memory the process may use, and at least 4 GiB. The pool must hold
    /// the buffers of every phase of a step together: when the phases' working sets add up to more than the cap (a RIL
    /// step whose discriminator takes 16 rows a forward rents 3.7 GB there and 1.3 GB in the policy update, on a 0.5B
    /// student), each phase's returns push the other's buffers out to the GC, every step allocates them afresh, and the
    /// step pays for the page faults (6 s of system time a step, 8.3 GB resident, against 0.7 s and 6.5 GB with 8 GiB).
    /// Idle buffers are memory the step already used, so a higher cap costs resident memory only when the phases differ.
    /// </summary>
    public static long DefaultCapacityFloats(long availableBytes, string? environment) =>
        long.TryParse(environment, out var mb) && mb >= 0 ? mb * 262_144L : Math.Max(1L << 30, availableBytes / 3 / sizeof(float));

    /// <summary>Number of arrays newly allocated (not reused) since start: lets tests see that steps stop allocating.</summary>
    public static long Allocations { get; private set; }

    public static long PooledBytes => _pooledFloats * 4;

    static long _rentedFloats, _peakRentedFloats;
    /// <summary>Bytes of arrays handed out by <see cref="Rent"/> and not yet returned (parameters, gradients, live activations).</summary>
    public static long RentedBytes => Interlocked.Read(ref _rentedFloats) * 4;
    /// <summary>The most <see cref="RentedBytes"/> reached since <see cref="ResetPeak"/>: a step's activations are its peak minus its start.</summary>
    public static long PeakRentedBytes => Interlocked.Read(ref _peakRentedFloats) * 4;
    /// <summary>Starts a new peak from what is rented now.</summary>
    public static void ResetPeak() { lock (Gate) _peakRentedFloats = _rentedFloats; }

    public static float[] Rent(int length, bool clear)
    {
        if (length == 0) return [];
        lock (Gate)
        {
            _rentedFloats += length;
            _peakRentedFloats = Math.Max(_peakRentedFloats, _rentedFloats);
            if (Free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                var a = stack.Pop();
                _pooledFloats -= length;
                if (clear) Array.Clear(a);
                return a;
            }
            Allocations++;
        }
        // New arrays come zeroed; skipping the clear for big ones would need GC.AllocateUninitializedArray.
        return clear ? new float[length] : GC.AllocateUninitializedArray<float>(length);
    }

    public static void Return(float[] array)
    {
        if (array.Length == 0) return;
        lock (Gate)
        {
            _rentedFloats -= array.Length;
            if (_pooledFloats + array.Length > CapacityFloats) return; // let the GC have it
            if (!Free.TryGetValue(array.Length, out var stack)) Free[array.Length] = stack = new Stack<float[]>();
            stack.Push(array);
            _pooledFloats += array.Length;
        }
    }

    /// <summary>Drops every idle array (e.g. between phases with different shapes).</summary>
    public static void Trim()
    {
        lock (Gate) { Free.Clear(); _pooledFloats = 0; }
    }
}

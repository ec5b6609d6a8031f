using System.Collections.Concurrent;
using Ril.Tensors.Autograd;

namespace Ril.Tensors.Distributed;

/// <summary>
/// Sums gradients over processes while backward still runs (PyTorch DDP's scheme). The parameters are cut once into
/// buckets of about <see cref="GradientSync.BucketFloats"/> floats, last parameter first (backward finishes the layers
/// near the output first); during the last backward before an optimizer step, a bucket is copied out and handed to a
/// communication thread as soon as every gradient in it is final, always in bucket order so that every process issues
/// the same collectives in the same order. <see cref="Finish"/> sends what is left, waits, and writes the sums back.
/// Each bucket carries one flag per parameter (had a gradient here), so a parameter with a gradient on no process keeps
/// none and the optimizer skips it, exactly as a single process would. Without <see cref="StartDuringNextBackward"/>,
/// <see cref="Finish"/> sums the buckets one after another on the calling thread.
/// </summary>
public sealed class GradientBuckets : IDisposable
{
    sealed record Bucket(Tensor[] Parameters, float[] Buffer);

    readonly ICommunicator _world;
    readonly Bucket[] _buckets;
    readonly Dictionary<Tensor, int> _bucketOf = new(ReferenceEqualityComparer.Instance);
    readonly int[] _waitingFor;                 // per bucket: gradients not yet final in the current backward
    int _nextToSend;
    readonly BlockingCollection<Bucket> _queue = [];
    readonly SemaphoreSlim _done = new(0);
    Thread? _sender;                            // started by the first overlapped step
    int _queued;                                // buckets handed to the sender in this step
    Exception? _failure;

    public GradientBuckets(IEnumerable<Tensor> parameters, ICommunicator world, int bucketFloats = GradientSync.BucketFloats)
    {
        _world = world;
        var buckets = new List<Bucket>();
        var current = new List<Tensor>();
        void Close()
        {
            if (current.Count == 0) return;
            buckets.Add(new Bucket([.. current], new float[current.Sum(p => p.Length) + current.Count]));   // values, then one flag each
            current.Clear();
        }
        foreach (var p in parameters.Distinct().Reverse())
        {
            if (current.Count > 0 && current.Sum(q => q.Length) + p.Length > bucketFloats) Close();
            current.Add(p);
        }
        Close();
        _buckets = [.. buckets];
        for (int b = 0; b < _buckets.Length; b++)
            foreach (var p in _buckets[b].Parameters) _bucketOf[p] = b;
        _waitingFor = new int[_buckets.Length];
    }

    /// <summary>How many buckets the parameters make.</summary>
    public int Count => _buckets.Length;

    /// <summary>Buckets of the current step handed over for summing so far.</summary>
    public int SentSoFar => _nextToSend;

    /// <summary>
    /// Call just before the last backward that adds to the gradients of this step (the last micro-batch this process
    /// runs): buckets are sent as that backward finishes them. Without it, <see cref="Finish"/> sends them all.
    /// </summary>
    public void StartDuringNextBackward()
    {
        for (int b = 0; b < _buckets.Length; b++) _waitingFor[b] = _buckets[b].Parameters.Length;
        Tape.OnNextBackward(new BackwardListener(BackwardStarted, GradientFinal));
    }

    /// <summary>Parameters outside this backward's graph are as final as they will be (a frozen or unused part).</summary>
    void BackwardStarted(Func<Tensor, bool> inGraph)
    {
        foreach (var p in _bucketOf.Keys)
            if (!inGraph(p)) _waitingFor[_bucketOf[p]]--;
        SendReady();
    }

    void GradientFinal(Tensor parameter)
    {
        if (!_bucketOf.TryGetValue(parameter, out int b)) return;
        _waitingFor[b]--;
        SendReady();
    }

    /// <summary>Sends the buckets whose gradients are all final, in bucket order.</summary>
    void SendReady()
    {
        while (_nextToSend < _buckets.Length && _waitingFor[_nextToSend] == 0) Queue(Pack());
    }

    /// <summary>Hands a bucket to the sender thread (started on first use).</summary>
    void Queue(Bucket bucket)
    {
        if (_sender is null)
        {
            _sender = new Thread(Send) { IsBackground = true, Name = "gradient allreduce" };
            _sender.Start();
        }
        _queued++;
        _queue.Add(bucket);
    }

    /// <summary>Copies the next bucket's gradients (zeros and flag 0 where there is none) into its buffer.</summary>
    Bucket Pack()
    {
        var bucket = _buckets[_nextToSend++];
        var buffer = bucket.Buffer.AsSpan();
        int at = 0, flags = buffer.Length - bucket.Parameters.Length;
        for (int i = 0; i < bucket.Parameters.Length; i++)
        {
            var p = bucket.Parameters[i];
            if (p.Grad is { } g) g.Data.CopyTo(buffer.Slice(at, p.Length)); else buffer.Slice(at, p.Length).Clear();
            buffer[flags + i] = p.Grad is null ? 0 : 1;
            at += p.Length;
        }
        return bucket;
    }

    void Send()
    {
        foreach (var bucket in _queue.GetConsumingEnumerable())
        {
            try { if (_failure is null) _world.AllReduceSum(bucket.Buffer); }
            catch (Exception e) { _failure = e; }
            _done.Release();
        }
    }

    /// <summary>
    /// Sends the buckets not sent yet, waits for all, and replaces each gradient by its sum over processes. Every process
    /// calls it once per optimizer step, before any other collective. Returns the seconds it waited.
    /// </summary>
    public double Finish()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Tape.OnNextBackward(null);                     // a backward that never came (a skipped micro-batch) must not fire later
        bool overlapped = _queued > 0;                          // then the sender owns the communicator until it has sent all
        while (_nextToSend < _buckets.Length)
        {
            var bucket = Pack();
            if (overlapped) Queue(bucket);
            else _world.AllReduceSum(bucket.Buffer);
        }
        for (; _queued > 0; _queued--) _done.Wait();
        _nextToSend = 0;
        if (_failure is { } failure) throw new InvalidOperationException($"gradient allreduce failed: {failure.Message}", failure);
        foreach (var bucket in _buckets)
        {
            var buffer = bucket.Buffer.AsSpan();
            int at = 0, flags = buffer.Length - bucket.Parameters.Length;
            for (int i = 0; i < bucket.Parameters.Length; i++)
            {
                var p = bucket.Parameters[i];
                if (buffer[flags + i] > 0) buffer.Slice(at, p.Length).CopyTo(p.GradData());
                at += p.Length;
            }
        }
        return clock.Elapsed.TotalSeconds;
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _sender?.Join();
        _queue.Dispose();
        _done.Dispose();
    }
}

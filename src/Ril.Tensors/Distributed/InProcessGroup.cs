namespace Ril.Tensors.Distributed;

/// <summary>
/// K ranks as threads of one process: data-parallel code tried and tested without MPI. <see cref="Run{T}"/> calls a body
/// once per rank, each on its own thread with its own <see cref="ICommunicator"/>; sums are taken in rank order, so every
/// rank gets the same bits.
/// </summary>
public sealed class InProcessGroup
{
    readonly Barrier _barrier;
    readonly Array?[] _slots;

    InProcessGroup(int size) => (_barrier, _slots) = (new Barrier(size), new Array?[size]);

    /// <summary>Runs <paramref name="body"/> as ranks 0 … <paramref name="size"/> − 1 together; returns their results by rank.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), $"InProcessGroup: {size} ranks");
        var group = new InProcessGroup(size);
        var results = new T[size];
        var failures = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try { results[rank] = body(new Member(group, rank)); }
            catch (Exception e) { failures[rank] = e; group._barrier.RemoveParticipant(); }   // the others must not wait for it
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        var failed = failures.Select((e, rank) => (e, rank)).Where(f => f.e is not null).ToList();
        if (failed.Count > 0) throw new AggregateException($"InProcessGroup: rank {failed[0].rank} failed", failed.Select(f => f.e!));
        return results;
    }

    sealed class Member(InProcessGroup group, int rank) : ICommunicator
    {
        public int Rank => rank;
        public int Size => group._slots.Length;

        public void AllReduceSum(Span<float> values) => Sum(values);
        public void AllReduceSum(Span<double> values) => Sum(values);

        void Sum<T>(Span<T> values) where T : struct, System.Numerics.INumber<T>
        {
            group._slots[rank] = values.ToArray();
            group._barrier.SignalAndWait();
            values.Clear();
            foreach (T[] slot in group._slots.Cast<T[]>())
                for (int i = 0; i < values.Length; i++) values[i] += slot[i];
            group._barrier.SignalAndWait();                    // nobody overwrites a slot another rank still reads
        }

        public void Broadcast(Span<byte> bytes, int root)
        {
            if (rank == root) group._slots[root] = bytes.ToArray();
            group._barrier.SignalAndWait();
            ((byte[])group._slots[root]!).CopyTo(bytes);
            group._barrier.SignalAndWait();
        }

        public void Barrier() => group._barrier.SignalAndWait();
    }
}

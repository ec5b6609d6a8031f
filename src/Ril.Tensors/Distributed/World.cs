namespace Ril.Tensors.Distributed;

/// <summary>
/// The processes of one data-parallel run and the few collective operations training needs. Every process must call the
/// same collectives in the same order with the same lengths (the MPI rule).
/// </summary>
public interface ICommunicator
{
    /// <summary>This process's index, 0 … <see cref="Size"/> − 1; rank 0 alone writes files.</summary>
    int Rank { get; }
    /// <summary>How many processes take part.</summary>
    int Size { get; }
    /// <summary>Replaces <paramref name="values"/> on every process by their element-wise sum over all processes.</summary>
    void AllReduceSum(Span<float> values);
    /// <inheritdoc cref="AllReduceSum(Span{float})"/>
    void AllReduceSum(Span<double> values);
    /// <summary>Copies <paramref name="bytes"/> of process <paramref name="root"/> into every other process's buffer of the same length.</summary>
    void Broadcast(Span<byte> bytes, int root);
    /// <summary>Returns when every process has called it.</summary>
    void Barrier();
}

/// <summary>A run of one process: every collective is the identity.</summary>
public sealed class SingleProcess : ICommunicator
{
    public static readonly SingleProcess Instance = new();
    SingleProcess() { }
    public int Rank => 0;
    public int Size => 1;
    public void AllReduceSum(Span<float> values) { }
    public void AllReduceSum(Span<double> values) { }
    public void Broadcast(Span<byte> bytes, int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), $"Broadcast: root {root} in a run of one process");
    }
    public void Barrier() { }
}

/// <summary>
/// The processes of this run, like torch.distributed's default group: a single process unless the program was started by
/// Open MPI's <c>mpirun</c> and called <see cref="Start"/>. Nothing of MPI is loaded otherwise.
/// </summary>
public static class World
{
    /// <summary>The communicator of this run (<see cref="SingleProcess"/> until <see cref="Start"/> joins an MPI job).</summary>
    public static ICommunicator Current { get; private set; } = SingleProcess.Instance;

    /// <summary>True on the process that writes logs, event files, checkpoints and the final model.</summary>
    public static bool IsRoot => Current.Rank == 0;

    /// <summary>Whether Open MPI's launcher started this process (it sets OMPI_COMM_WORLD_SIZE for every rank it starts).</summary>
    public static bool LaunchedByMpirun => Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null;

    /// <summary>Joins the MPI job when launched by <c>mpirun</c>; otherwise stays a single process. Call once, first thing.</summary>
    public static ICommunicator Start()
    {
        if (Current is not SingleProcess) return Current;
        if (LaunchedByMpirun) Current = MpiCommunicator.Initialize();
        return Current;
    }

    /// <summary>Leaves the MPI job (all ranks must call it); a single process has nothing to do.</summary>
    public static void Stop()
    {
        if (Current is MpiCommunicator mpi) mpi.Dispose();
        Current = SingleProcess.Instance;
    }

    /// <summary>Ends every process of the job with <paramref name="exitCode"/>: one rank failing must not leave the others waiting in a collective.</summary>
    public static void Abort(int exitCode)
    {
        if (Current is MpiCommunicator mpi) mpi.Abort(exitCode);
    }
}

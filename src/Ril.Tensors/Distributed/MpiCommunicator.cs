using System.Runtime.InteropServices;

namespace Ril.Tensors.Distributed;

/// <summary>
/// Open MPI's C library called directly (no MPI package exists for .NET): init with thread support, rank and size of
/// MPI_COMM_WORLD, sums of floats and doubles, broadcast, barrier, finalize, abort. Open MPI's handles (MPI_COMM_WORLD,
/// MPI_FLOAT, MPI_SUM …) are addresses of its global objects (ompi_mpi_comm_world …), read from the library's exports.
/// Loaded only by <see cref="World.Start"/> under <c>mpirun</c>. Calls come from the main thread or from
/// <see cref="GradientBuckets"/>' sender thread, never at the same time (MPI_THREAD_SERIALIZED).
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator, IDisposable
{
    /// <summary>Open MPI 4/5's library name; RIL_MPI_LIBRARY names another file.</summary>
    public const string DefaultLibrary = "libmpi.so.40";
    const int ThreadSerialized = 2;              // MPI_THREAD_SERIALIZED: any thread may call MPI, one at a time
    const int Success = 0;
    static readonly nint InPlace = 1;            // Open MPI's MPI_IN_PLACE is ((void *) 1)

    readonly nint _world, _float, _double, _byte, _sum;
    readonly delegate* unmanaged<nint, int*, int> _commRank, _commSize;
    readonly delegate* unmanaged<nint, nint, int, nint, nint, nint, int> _allreduce;
    readonly delegate* unmanaged<nint, int, nint, int, nint, int> _bcast;
    readonly delegate* unmanaged<nint, int> _barrier;
    readonly delegate* unmanaged<int> _finalize;
    readonly delegate* unmanaged<nint, int, int> _abort;
    bool _finalized;

    public int Rank { get; }
    public int Size { get; }

    MpiCommunicator(nint library)
    {
        nint Export(string name) => NativeLibrary.TryGetExport(library, name, out var address) ? address
            : throw new EntryPointNotFoundException($"MPI: the library has no symbol '{name}' (Open MPI is required)");
        _world = Export("ompi_mpi_comm_world");
        _float = Export("ompi_mpi_float");
        _double = Export("ompi_mpi_double");
        _byte = Export("ompi_mpi_byte");
        _sum = Export("ompi_mpi_op_sum");
        _commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        _commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        _allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        _bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Export("MPI_Bcast");
        _barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        _abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");

        var initThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Export("MPI_Init_thread");
        int provided;
        Check(initThread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        if (provided < ThreadSerialized) throw new InvalidOperationException($"MPI_Init_thread: the library provides thread level {provided}, Ril needs MPI_THREAD_SERIALIZED ({ThreadSerialized})");
        int rank, size;
        Check(_commRank(_world, &rank), "MPI_Comm_rank");
        Check(_commSize(_world, &size), "MPI_Comm_size");
        (Rank, Size) = (rank, size);
    }

    /// <summary>Loads Open MPI and initialises it. Call once per process, under <c>mpirun</c>.</summary>
    public static MpiCommunicator Initialize() => new(Load(Environment.GetEnvironmentVariable("RIL_MPI_LIBRARY") ?? DefaultLibrary));

    /// <summary>
    /// dlopen with RTLD_GLOBAL: Open MPI's plugins (btl, pml, coll …) are separate shared objects that resolve symbols
    /// of libmpi and libopen-pal, which they find only if those were loaded globally (as mpi4py does).
    /// </summary>
    static nint Load(string name)
    {
        const int RtldNow = 2, RtldGlobal = 0x100;
        nint handle = Dl.Open(name, RtldNow | RtldGlobal);
        if (handle == 0)
            throw new DllNotFoundException($"MPI: cannot load {name} ({Dl.LastError()}); this process was started by mpirun, so Open MPI's " +
                "library must be installed (Debian: libopenmpi3 / openmpi-bin), or RIL_MPI_LIBRARY must name it");
        return handle;
    }

    public void AllReduceSum(Span<float> values)
    {
        fixed (float* p = values) Reduce((nint)p, values.Length, sizeof(float), _float);
    }

    public void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values) Reduce((nint)p, values.Length, sizeof(double), _double);
    }

    /// <summary>In-place MPI_Allreduce(MPI_SUM) in pieces whose counts fit MPI's int.</summary>
    void Reduce(nint data, int length, int elementSize, nint type)
    {
        for (int start = 0; start < length; start += MaxCount)
            Check(_allreduce(InPlace, data + (nint)start * elementSize, Math.Min(MaxCount, length - start), type, _sum, _world), "MPI_Allreduce");
    }

    const int MaxCount = 1 << 30;

    public void Broadcast(Span<byte> bytes, int root)
    {
        if (root < 0 || root >= Size) throw new ArgumentOutOfRangeException(nameof(root), $"Broadcast: root {root} outside ranks 0…{Size - 1}");
        fixed (byte* p = bytes)
            for (int start = 0; start < bytes.Length; start += MaxCount)
                Check(_bcast((nint)(p + start), Math.Min(MaxCount, bytes.Length - start), _byte, root, _world), "MPI_Bcast");
    }

    public void Barrier() => Check(_barrier(_world), "MPI_Barrier");

    /// <summary>MPI_Abort on MPI_COMM_WORLD: mpirun ends every rank.</summary>
    public void Abort(int exitCode) => _abort(_world, exitCode);

    /// <summary>MPI_Finalize (collective: every rank calls it).</summary>
    public void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        Check(_finalize(), "MPI_Finalize");
    }

    static void Check(int code, string call)
    {
        // Open MPI's default error handler aborts the job before returning an error; this catches MPI_ERRORS_RETURN setups.
        if (code != Success) throw new InvalidOperationException($"{call} failed with MPI error code {code}");
    }

    /// <summary>libc's dynamic loader (glibc ≥ 2.34 has dlopen in libc.so.6 itself).</summary>
    static class Dl
    {
        [DllImport("libc.so.6", EntryPoint = "dlopen")] static extern nint DlOpen(string file, int mode);
        [DllImport("libc.so.6", EntryPoint = "dlerror")] static extern nint DlError();

        public static nint Open(string file, int mode) => DlOpen(file, mode);
        public static string LastError() => Marshal.PtrToStringUTF8(DlError()) ?? "no error text";
    }
}

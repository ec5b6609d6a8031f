using System.Runtime.InteropServices;

namespace Ril.Tensors.Kernels;

/// <summary>
/// Optional OpenBLAS, loaded at run time with <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>. Nothing
/// requires it: when the library is absent <see cref="IsAvailable"/> is false and <see cref="Gemm"/> does all the
/// work itself. It serves as a yardstick in the benchmark and in tests. <see cref="Gemm"/> does not route to it: on
/// the machine this was measured on Gemm is on par or faster for every shape but the tiniest (see the notes there).
/// <c>RIL_OPENBLAS=0</c> makes it unavailable.
/// </summary>
public static unsafe class OpenBlas
{
    static readonly object s_lock = new();
    static volatile bool s_tried;
    static bool s_available;
    static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemm;
    static delegate* unmanaged<int, void> s_setThreads;
    static int s_threads;

    // CBLAS enum values.
    const int RowMajor = 101, NoTrans = 111, Trans = 112;

    /// <summary>True when libopenblas could be loaded (tried once, on first use).</summary>
    public static bool IsAvailable
    {
        get
        {
            if (!s_tried) TryLoad();
            return s_available;
        }
    }

    /// <summary>The kernel family OpenBLAS chose (openblas_get_corename, e.g. "SkylakeX"); null if not loaded.</summary>
    public static string? CoreType { get; private set; }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv(string name, string value, int overwrite);

    static void TryLoad()
    {
        lock (s_lock)
        {
            if (s_tried) return;
            try
            {
                if (Environment.GetEnvironmentVariable("RIL_OPENBLAS") == "0") return;
                // OpenBLAS picks its kernel from the CPU id when it is loaded; on AMD Zen 4 its auto-detection
                // chooses a kernel without AVX-512 that is far slower. SkylakeX's kernels run well there. It reads the
                // process environment through getenv, so the variable must be set in libc's copy (Environment
                // .SetEnvironmentVariable does not reach it), and only if the user has not chosen something else.
                if (Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") == null && OperatingSystem.IsLinux())
                {
                    try
                    {
                        SetEnv("OPENBLAS_CORETYPE", "SkylakeX", 0);
                        Environment.SetEnvironmentVariable("OPENBLAS_CORETYPE", "SkylakeX");
                    }
                    catch (Exception) { /* no libc setenv: let OpenBLAS detect */ }
                }

                IntPtr h = IntPtr.Zero;
                foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll", "openblas" })
                    if (NativeLibrary.TryLoad(name, out h)) break;
                if (h == IntPtr.Zero) return;
                if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out var sgemm)) return;
                s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
                if (NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var st))
                    s_setThreads = (delegate* unmanaged<int, void>)st;
                // Ask the library which kernels it chose, rather than trusting the variable was honoured.
                CoreType = NativeLibrary.TryGetExport(h, "openblas_get_corename", out var cn)
                    ? Marshal.PtrToStringAnsi(((delegate* unmanaged<IntPtr>)cn)())
                    : Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE");
                s_available = true;
            }
            finally
            {
                s_tried = true;
            }
        }
    }

    /// <summary>cblas_sgemm, row-major; same meaning as <see cref="Gemm.Multiply"/>. Runs on as many threads as
    /// <see cref="WorkerPool.Shared"/> has.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc)
    {
        if (!IsAvailable) throw new InvalidOperationException("OpenBLAS is not available.");
        SyncThreads(WorkerPool.Shared.Threads);
        s_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    static void SyncThreads(int threads)
    {
        if (s_threads == threads || s_setThreads == null) return;
        s_setThreads(threads);
        s_threads = threads;
    }
}

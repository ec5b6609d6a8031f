using Ril.Models;
using Ril.Tensors;
using Ril.Tensors.Memory;
using Ril.Tensors.Optim;

namespace Ril.Training;

/// <summary>
/// Where a run's memory goes, in bytes: weights (float32 or bf16 as stored), gradients, optimizer state, activations
/// (the peak of tensor buffers a step rented beyond what it started with: activations, their gradients, scratch) and
/// KV caches, with the process's peak resident memory beside them.
/// </summary>
public sealed record MemoryBreakdown(long Weights, long Gradients, long OptimizerState, long Activations, long KvCaches, long PeakResident)
{
    const double Mb = 1024.0 * 1024.0;

    /// <summary>Measures the first three from the models' parameters and the optimizers; the caller gives activations and KV caches.</summary>
    public static MemoryBreakdown Measure(IEnumerable<Tensor> parameters, IEnumerable<Optimizer> optimizers, long activations, long kvCaches)
    {
        var distinct = parameters.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().ToList();
        return new MemoryBreakdown(distinct.Sum(p => p.StorageBytes), distinct.Sum(p => 4L * (p.Grad?.Length ?? 0)),
            optimizers.Sum(o => o.StateBytes), activations, kvCaches, PeakResidentBytes());
    }

    /// <summary>Runs <paramref name="step"/> and returns the peak bytes of tensor buffers it rented beyond those held when it began.</summary>
    public static long ActivationPeak(Action step)
    {
        long before = BufferPool.RentedBytes;
        BufferPool.ResetPeak();
        step();
        return BufferPool.PeakRentedBytes - before;
    }

    /// <summary>The process's peak resident memory (VmHWM on Linux); 0 where the system does not report it.</summary>
    public static long PeakResidentBytes() => ProcStatusBytes("VmHWM");

    /// <summary>
    /// Starts the peak resident memory afresh from the current resident memory (Linux: "5" to /proc/self/clear_refs), so a
    /// run's peak can leave out its set-up; false where the system does not allow it.
    /// </summary>
    public static bool ResetPeakResident()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>The process's resident memory now (VmRSS on Linux); 0 where the system does not report it.</summary>
    public static long ResidentBytes() => ProcStatusBytes("VmRSS");

    /// <summary>The process's minor page faults so far (field 10 of /proc/self/stat: pages the kernel had to map and zero
    /// on first touch); 0 where the system does not report it.</summary>
    public static long MinorPageFaults()
    {
        const string stat = "/proc/self/stat";
        if (!File.Exists(stat)) return 0;
        var text = File.ReadAllText(stat);
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');   // after "pid (comm) ": state is field 3
        return long.Parse(fields[10 - 3]);
    }

    static long ProcStatusBytes(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return 0;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(':')[1].Trim().Split(' ')[0]) * 1024;
        return 0;
    }

    /// <summary>The breakdown as run metrics, in MiB.</summary>
    public IReadOnlyDictionary<string, double> ToMetrics() => new Dictionary<string, double>
    {
        ["memory/weights_mb"] = Weights / Mb,
        ["memory/gradients_mb"] = Gradients / Mb,
        ["memory/optimizer_state_mb"] = OptimizerState / Mb,
        ["memory/activations_mb"] = Activations / Mb,
        ["memory/kv_caches_mb"] = KvCaches / Mb,
        ["memory/peak_rss_mb"] = PeakResident / Mb,
    };

    public override string ToString() =>
        $"weights {Weights / Mb:F0} MB, gradients {Gradients / Mb:F0} MB, optimizer state {OptimizerState / Mb:F0} MB, " +
        $"activations {Activations / Mb:F0} MB, KV caches {KvCaches / Mb:F0} MB, peak RSS {PeakResident / Mb:F0} MB";
}

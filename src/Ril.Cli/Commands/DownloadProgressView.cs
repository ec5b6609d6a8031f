using System.Globalization;
using Ril.Hub;

namespace Ril.Cli.Commands;

/// <summary>
/// Shows Hub downloads: on a terminal, one progress bar per file redrawn in place; otherwise (a log, a pipe) one line
/// when a file starts and one when it is done, so logs stay readable.
/// </summary>
public sealed class DownloadProgressView(TextWriter output, bool interactive) : IProgress<HubDownloadProgress>
{
    const int BarWidth = 30;
    static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);
    string? _file;
    DateTime _lastDraw;

    public void Report(HubDownloadProgress p)
    {
        bool started = _file != p.File;
        _file = p.File;
        var name = $"{p.Model} [{p.FileNumber}/{p.FileCount}] {p.File}";
        if (!interactive)
        {
            if (started && !p.Completed) output.WriteLine(Invariant($"downloading {name} ({Size(p.TotalBytes)}{(p.ReceivedBytes > 0 ? $", resuming at {Size(p.ReceivedBytes)}" : "")})"));
            if (p.Completed) output.WriteLine($"downloaded {name}");
            return;
        }
        var now = DateTime.UtcNow;
        if (!p.Completed && !started && now - _lastDraw < RedrawInterval) return;
        _lastDraw = now;
        double fraction = p.TotalBytes > 0 ? Math.Clamp((double)p.ReceivedBytes / p.TotalBytes, 0, 1) : 1;
        int filled = (int)Math.Round(fraction * BarWidth);
        output.Write(Invariant($"\r{name} [{new string('#', filled)}{new string('-', BarWidth - filled)}] {fraction * 100,5:F1}% {Size(p.ReceivedBytes)}/{Size(p.TotalBytes)}\u001b[K"));
        if (p.Completed) output.WriteLine();
        output.Flush();
    }

    static string Size(long bytes) => bytes switch
    {
        < 1 << 10 => Invariant($"{bytes} B"),
        < 1 << 20 => Invariant($"{bytes / 1024.0:F1} KiB"),
        < 1 << 30 => Invariant($"{bytes / 1048576.0:F1} MiB"),
        _ => Invariant($"{bytes / 1073741824.0:F2} GiB"),
    };

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

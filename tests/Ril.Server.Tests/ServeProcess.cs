using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Ril.Server.Tests;

/// <summary>`ril serve` as a process of its own (its memory is its own): started on a free loopback port, its output captured.</summary>
public sealed partial class ServeProcess : IDisposable
{
    readonly System.Text.StringBuilder _output = new();

    public Process Process { get; }
    public string BaseUrl { get; }
    public string Output { get { lock (_output) return _output.ToString(); } }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    [GeneratedRegex(@"at (http://127\.0\.0\.1:\d+/v1)")]
    private static partial Regex ServingAt();

    ServeProcess(Process process, string baseUrl, System.Text.StringBuilder output) => (Process, BaseUrl, _output) = (process, baseUrl, output);

    /// <summary>Starts `ril serve --model <paramref name="modelDir"/> --port 0` with <paramref name="arguments"/> and waits for its address.</summary>
    public static async Task<ServeProcess> StartAsync(string modelDir, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "Ril.Cli.dll"), "serve", "--model", modelDir, "--port", "0" }.Concat(arguments))
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            if (ServingAt().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try { return new ServeProcess(process, await address.Task.WaitAsync(TimeSpan.FromSeconds(30)), output); }
        catch { if (!process.HasExited) process.Kill(); process.Dispose(); throw; }
    }

    /// <summary>Sends SIGTERM, as a service manager stops the server.</summary>
    public int Terminate() => kill(Process.Id, 15);

    /// <summary>The server's peak resident memory so far (VmHWM of /proc/PID/status), in bytes.</summary>
    public long PeakResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{Process.Id}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(':')[1].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException($"/proc/{Process.Id}/status has no VmHWM");
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill();
        Process.Dispose();
    }
}

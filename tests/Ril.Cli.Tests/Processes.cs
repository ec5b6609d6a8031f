using System.Diagnostics;
using System.Text;

namespace Ril.Cli.Tests;

/// <summary>Runs a command to completion with a time limit, capturing stdout and stderr together.</summary>
public static class Processes
{
    /// <summary>The exit code, stdout and stderr interleaved, and stdout alone (what a command prints as its result).</summary>
    public sealed record Result(int ExitCode, string Output)
    {
        public string StandardOutput { get; init; } = "";
    }

    /// <summary>The `ril` command as this test build has it (Ril.Cli.dll is copied beside the tests).</summary>
    public static string[] Ril => ["dotnet", Path.Combine(AppContext.BaseDirectory, "Ril.Cli.dll")];

    public static Result Run(IEnumerable<string> command, IReadOnlyDictionary<string, string>? environment = null, int timeoutSeconds = 120)
    {
        var args = command.ToList();
        var start = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args.Skip(1)) start.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"cannot start '{args[0]}': {e.Message}", e); }
        using (process)
        {
            var output = new StringBuilder();
            var standardOutput = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) { output.AppendLine(e.Data); standardOutput.AppendLine(e.Data); } };
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(timeoutSeconds * 1000))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                lock (output) return new Result(-1, $"timed out after {timeoutSeconds} s: {string.Join(' ', args)}\n{output}");
            }
            process.WaitForExit();
            lock (output) return new Result(process.ExitCode, output.ToString()) { StandardOutput = standardOutput.ToString() };
        }
    }

    /// <summary>Runs and requires exit code 0, failing with the command and its output otherwise.</summary>
    public static string Check(IEnumerable<string> command, IReadOnlyDictionary<string, string>? environment = null, int timeoutSeconds = 120)
    {
        var list = command.ToList();
        var r = Run(list, environment, timeoutSeconds);
        if (r.ExitCode != 0) throw new InvalidOperationException($"'{string.Join(' ', list)}' exited with {r.ExitCode}:\n{r.Output}");
        return r.Output;
    }

    /// <summary>Whether a program is on PATH.</summary>
    public static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));
}

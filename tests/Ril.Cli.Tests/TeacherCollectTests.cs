namespace Ril.Cli.Tests;

/// <summary>
/// `ril teachers collect` against a teacher that answers nothing: one line saying the share of failed requests and exit
/// code 1, not a run through every request that leaves an empty cache behind.
/// </summary>
public class TeacherCollectTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-collect-cli-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void A_teacher_that_never_answers_stops_the_run_with_one_line_naming_the_share()
    {
        var data = Path.Combine(_dir, "data");
        Processes.Check([.. Processes.Ril, "data", "synth", "--out", data, "--train", "30", "--val", "2", "--test", "2", "--image-size", "32"]);
        var cache = Path.Combine(_dir, "teachers.jsonl");
        var result = Processes.Run([.. Processes.Ril, "teachers", "collect", "--dataset", Path.Combine(data, "train.jsonl"), "--text-only",
            "--teacher", "nobody=http://127.0.0.1:1/v1,none", "-n", "2", "--attempts", "1", "--backoff", "0.01", "--out", cache]);
        Assert.Equal(1, result.ExitCode);
        var error = Assert.Single(result.Output.Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Matches(@"^error: stopped: (\d+) of \1 teacher requests failed \(100 %\), more than the 25 % allowed \(--max-failures\); failed by teacher: nobody \1", error);
        Assert.Contains(cache, error);
        Assert.DoesNotContain("Unhandled exception", result.Output);
    }
}

namespace Ril.Cli.Tests;

/// <summary>`data synth` and `data convert` never silently replace what an --out path already holds.</summary>
public sealed class OutputFolderTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-out-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string[] Synth(string folder, int train, params string[] more) =>
        [.. Processes.Ril, "data", "synth", "--out", folder, "--train", train.ToString(), "--val", "1", "--test", "1", "--image-size", "32", .. more];

    [Fact]
    public void Synth_over_a_dataset_is_refused_and_with_overwrite_leaves_no_stale_images()
    {
        var folder = Path.Combine(_dir, "suite");
        Processes.Check(Synth(folder, 5));
        var again = Processes.Run(Synth(folder, 3));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"{folder} already exists and is not empty; pass --overwrite", again.Output);
        Assert.Equal(7, Directory.GetFiles(Path.Combine(folder, "images")).Length);   // untouched
        Processes.Check(Synth(folder, 3, "--overwrite"));
        Assert.Equal(5, Directory.GetFiles(Path.Combine(folder, "images")).Length);   // 3 + 1 + 1: the old train_00003/4 are gone
        Assert.Equal(3, File.ReadLines(Path.Combine(folder, "train.jsonl")).Count());
    }

    [Fact]
    public void Convert_refuses_to_replace_a_split_and_keeps_the_others()
    {
        var suite = Path.Combine(_dir, "suite");
        var output = Path.Combine(_dir, "converted");
        Processes.Check(Synth(suite, 4));
        Processes.Check([.. Processes.Ril, "data", "convert", Path.Combine(suite, "train.jsonl"), "--out", output]);
        Processes.Check([.. Processes.Ril, "data", "convert", Path.Combine(suite, "val.jsonl"), "--out", output]);   // another split beside it
        var again = Processes.Run([.. Processes.Ril, "data", "convert", Path.Combine(suite, "val.jsonl"), "--out", output, "--name", "train"]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("train.jsonl already exists; pass --overwrite", again.Output);
        Assert.Equal(4, File.ReadLines(Path.Combine(output, "train.jsonl")).Count());
        Processes.Check([.. Processes.Ril, "data", "convert", Path.Combine(suite, "val.jsonl"), "--out", output, "--name", "train", "--overwrite"]);
        Assert.Single(File.ReadLines(Path.Combine(output, "train.jsonl")));
        Assert.Single(Directory.GetFiles(Path.Combine(output, "images", "train")));
        Assert.True(File.Exists(Path.Combine(output, "val.jsonl")));
    }
}

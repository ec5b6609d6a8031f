using System.CommandLine;
using System.Globalization;
using Ril.Data;
using Ril.Data.Synth;

namespace Ril.Cli.Commands;

/// <summary>`ril data`: the built-in suite and dataset checks.</summary>
public static class DataCommands
{
    public static Command Create()
    {
        var data = new Command("data", "Datasets: generate the built-in visual reasoning suite; check, show and convert datasets (JSONL, Parquet, Hub ids; questions or conversations).");
        data.Add(Synth());
        data.Add(Check());
        data.Add(Show());
        data.Add(Convert());
        return data;
    }

    static Command Synth()
    {
        var output = new Option<string>("--out") { Description = "Folder to write train.jsonl, val.jsonl, test_ood.jsonl, images/ and suite.json into", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed; the same seed gives byte-identical output", DefaultValueFactory = _ => 1 };
        var train = new Option<int>("--train") { Description = "Training rows", DefaultValueFactory = _ => 5000 };
        var val = new Option<int>("--val") { Description = "Validation rows (same distribution as train)", DefaultValueFactory = _ => 300 };
        var test = new Option<int>("--test") { Description = "Out-of-distribution test rows (held-out colour-shape pairs, larger counts)", DefaultValueFactory = _ => 300 };
        var size = new Option<int>("--image-size") { Description = "Image side in pixels", DefaultValueFactory = _ => 64 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the --out folder when it already holds files (refused otherwise)" };
        var command = new Command("synth",
            "Render the built-in visual reasoning suite: counting, scene arithmetic, comparison, left/right, " +
            "reading digits, bar charts. Each row has a gold answer, a step-by-step solution ending in \\boxed{}, " +
            "and its scene description.") { output, seed, train, val, test, size, overwrite };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            Claim(parse.GetValue(overwrite), parse.GetValue(output)!);
            var options = new SuiteOptions(parse.GetValue(seed), parse.GetValue(train), parse.GetValue(val), parse.GetValue(test), parse.GetValue(size));
            var summary = SuiteWriter.Write(parse.GetValue(output)!, options, line => Console.WriteLine(line));
            Console.WriteLine($"wrote {summary.RowsPerSplit.Values.Sum()} rows to {summary.Directory} in {summary.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
            return 0;
        }));
        return command;
    }

    static Command Check()
    {
        var files = new Argument<string[]>("datasets") { Description = $"Datasets (splits): each {DatasetSource.ArgumentDescription}", Arity = ArgumentArity.OneOrMore };
        var textOnly = new Option<bool>("--text-only") { Description = "Ignore the image field (for datasets shipped without their images)" };
        var show = new Option<int>("--rows") { Description = "Rows of each split to print with their images' sizes", DefaultValueFactory = _ => 2 };
        var keys = new DatasetKeyOptions();
        var command = new Command("check",
            "Load datasets as training would (JSONL, Parquet, Hub ids; question rows or conversations), decoding every image within the decoders' bounds, " +
            "and report each split's rows (per file when it has several), images, conversations and extra fields, then its first rows; " +
            "a bad value is reported with its file and line (Parquet: row group, row and column).")
            { files, textOnly, show };
        keys.AddTo(command);
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var images = parse.GetValue(textOnly) ? ImageMode.TextOnly : ImageMode.Require;
            foreach (var dataset in parse.GetValue(files)!)
            {
                int rows = 0, withImage = 0, withSolution = 0, decoded = 0, conversations = 0;
                var extra = new SortedSet<string>(StringComparer.Ordinal);
                var perFile = new List<string>();
                var first = new List<DatasetRow>();
                var sources = DatasetSource.Files(dataset);
                foreach (var file in sources)
                {
                    int inFile = 0;
                    foreach (var row in DatasetSource.Read(file, keys.Keys(parse), images))
                    {
                        rows++; inFile++;
                        if (row.ImageField != null || row.HasImage) withImage++;
                        if (row.Solution != null) withSolution++;
                        if (row.Messages != null) conversations++;
                        decoded += row.LoadImages().Count;
                        foreach (var key in row.Extra.Select(kv => kv.Key)) extra.Add(key);
                        if (first.Count < parse.GetValue(show)) first.Add(row);
                    }
                    perFile.Add($"{Path.GetFileName(file)} {inFile}");
                }
                Console.WriteLine($"{dataset} (split {DatasetSource.SplitName(dataset)}): {rows} rows{(sources.Count > 1 ? $" ({string.Join(", ", perFile)})" : "")}, " +
                                  $"{withImage} with images{(parse.GetValue(textOnly) ? " (not checked: --text-only)" : $" ({decoded} decoded)")}, " +
                                  $"{(conversations > 0 ? $"{conversations} conversations, " : "")}{withSolution} with a solution; " +
                                  $"extra fields: {(extra.Count == 0 ? "none" : string.Join(", ", extra))}");
                foreach (var row in first) Print(row);
            }
            return 0;
        }));
        return command;
    }

    static Command Show()
    {
        var dataset = new Argument<string>("dataset") { Description = $"Dataset: {DatasetSource.ArgumentDescription}" };
        var count = new Option<int>("--rows") { Description = "Rows to show", DefaultValueFactory = _ => 3 };
        var keys = new DatasetKeyOptions();
        var command = new Command("show", "Print the first rows of a dataset: id, where it is in its file, question, answer, solution (or a conversation's turns), and each image's size.") { dataset, count };
        keys.AddTo(command);
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            foreach (var row in DatasetSource.Read(parse.GetValue(dataset)!, keys.Keys(parse)).Take(Math.Max(0, parse.GetValue(count)))) Print(row);
            return 0;
        }));
        return command;
    }

    /// <summary>A row as `data show` and `data check` print it: its text, then each image's size.</summary>
    static void Print(DatasetRow row)
    {
        Console.WriteLine($"{row.Id} ({row.Location}){(row.Messages != null ? $": a conversation of {row.Messages.Count} turns" : "")}");
        if (row.Messages != null)
            foreach (var message in row.Messages) Console.WriteLine($"  {message.Role + ":",-10}{Shorten(message.Content)}");
        else
        {
            Console.WriteLine($"  question: {Shorten(row.Question)}");
            Console.WriteLine($"  answer:   {Shorten(row.Answer)}");
            if (row.Solution != null) Console.WriteLine($"  solution: {Shorten(row.Solution)}");
        }
        foreach (var image in row.LoadImages()) Console.WriteLine($"  image:    {image.Width}x{image.Height}, {image.Channels} channels");
    }

    static Command Convert()
    {
        var dataset = new Argument<string>("dataset") { Description = $"Dataset: {DatasetSource.ArgumentDescription}" };
        var output = new Option<string>("--out") { Description = "Folder to write NAME.jsonl and images/NAME/ into", Required = true };
        var name = new Option<string?>("--name") { Description = "The split's name in the output (default: the dataset file's name, or a Hub id's split)" };
        var keys = new DatasetKeyOptions();
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace NAME.jsonl and images/NAME/ when they exist (refused otherwise)" };
        var command = new Command("convert", "Write a dataset (Parquet, a Hub id, or JSONL) as MAYE JSONL with its images as files.") { dataset, output, name, overwrite };
        keys.AddTo(command);
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var source = parse.GetValue(dataset)!;
            string folder = parse.GetValue(output)!, split = parse.GetValue(name) ?? DatasetSource.SplitName(source);
            Claim(parse.GetValue(overwrite), Path.Combine(folder, split + ".jsonl"), Path.Combine(folder, "images", split));
            var summary = MayeJsonlWriter.Write(DatasetSource.Read(source, keys.Keys(parse)), folder, split);
            Console.WriteLine($"wrote {summary.Rows} rows and {summary.Images} images: {summary.JsonlPath}");
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The files or folders a command is about to write: one that already holds something is refused, naming it, unless
    /// <paramref name="overwrite"/>, which removes it first — never a silent replacement that leaves stale files behind.
    /// </summary>
    static void Claim(bool overwrite, params string[] paths)
    {
        foreach (var path in paths)
        {
            bool file = File.Exists(path), folder = Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any();
            if (!file && !folder) continue;
            if (!overwrite) throw new IOException($"{path} already exists{(folder ? " and is not empty" : "")}; pass --overwrite to replace it");
            if (file) File.Delete(path);
            else Directory.Delete(path, recursive: true);
        }
    }

    static string Shorten(string text)
    {
        var line = text.ReplaceLineEndings(" ");
        return line.Length <= 100 ? line : line[..97] + "...";
    }
}

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
        var data = new Command("data", "Datasets: generate the built-in visual reasoning suite, check MAYE-format JSONL files.");
        data.Add(Synth());
        data.Add(Check());
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
        var command = new Command("synth",
            "Render the built-in visual reasoning suite: counting, scene arithmetic, comparison, left/right, " +
            "reading digits, bar charts. Each row has a gold answer, a step-by-step solution ending in \\boxed{}, " +
            "and its scene description.") { output, seed, train, val, test, size };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var options = new SuiteOptions(parse.GetValue(seed), parse.GetValue(train), parse.GetValue(val), parse.GetValue(test), parse.GetValue(size));
            var summary = SuiteWriter.Write(parse.GetValue(output)!, options, line => Console.WriteLine(line));
            Console.WriteLine($"wrote {summary.RowsPerSplit.Values.Sum()} rows to {summary.Directory} in {summary.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
            return 0;
        }));
        return command;
    }

    static Command Check()
    {
        var files = new Argument<string[]>("files") { Description = "MAYE-format JSONL files", Arity = ArgumentArity.OneOrMore };
        var textOnly = new Option<bool>("--text-only") { Description = "Ignore the image field (for datasets shipped without their images)" };
        var command = new Command("check", "Load JSONL datasets as training would, and report rows, images and extra fields; a bad line is reported with its file, line and field.")
            { files, textOnly };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            foreach (var file in parse.GetValue(files)!)
            {
                int rows = 0, withImage = 0, withSolution = 0;
                var extra = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var row in JsonlDataset.Read(file, parse.GetValue(textOnly) ? ImageMode.TextOnly : ImageMode.Require))
                {
                    rows++;
                    if (row.ImageField != null) withImage++;
                    if (row.Solution != null) withSolution++;
                    foreach (var key in row.Extra.Select(kv => kv.Key)) extra.Add(key);
                }
                Console.WriteLine($"{file}: {rows} rows, {withImage} with an image{(parse.GetValue(textOnly) ? " (not checked: --text-only)" : "")}, " +
                                  $"{withSolution} with a solution; extra fields: {(extra.Count == 0 ? "none" : string.Join(", ", extra))}");
            }
            return 0;
        }));
        return command;
    }
}

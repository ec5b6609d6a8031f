using System.CommandLine;
using Ril.Evaluation;

namespace Ril.Cli.Commands;

/// <summary>`ril report RUN_DIR... --out report.html`: one self-contained HTML page over run directories.</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("runs") { Description = "Run directories (config.json, metrics.jsonl, eval/)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "The HTML file to write", DefaultValueFactory = _ => "report.html" };
        var title = new Option<string?>("--title") { Description = "Page title (default: the runs' names)" };
        var markdown = new Option<bool>("--markdown") { Description = "Also print, as Markdown, MAYE's table (mean, max and last accuracy per group, split and setting) and the training dynamics (per run: sampled accuracy, entropy, response length and the teachers' token log-prob over the first → last tenth of its steps)" };
        var command = new Command("report",
            "Write one self-contained HTML page (inline SVG charts, no network needed) over one or more runs: accuracy per decoding setting, " +
            "rewards, response length, reflection, KL, entropy, throughput, MAYE's mean/max accuracy table and sample responses. " +
            "Runs that differ only by seed (or share a recipe's run.group) are drawn as a mean with a band.") { runs, output, title, markdown };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var dirs = parse.GetValue(runs)!;
            var path = parse.GetValue(output)!;
            try { RunReport.Write(dirs, path, parse.GetValue(title)); }
            catch (InvalidDataException e) { throw new ArgumentException(e.Message, e); }
            Console.WriteLine($"wrote {path} ({dirs.Length} run(s))");
            if (parse.GetValue(markdown)) Console.WriteLine(RunReport.MarkdownTable(dirs) + "\n" + RunReport.DynamicsTable(dirs));
            return 0;
        }));
        return command;
    }
}

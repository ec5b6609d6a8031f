using System.Globalization;
using Spectre.Console;

namespace Ril.Evaluation;

/// <summary>
/// The console while a run goes: a Spectre.Console progress bar whose line shows the step, reward, training accuracy,
/// the latest evaluation accuracy and throughput, with each evaluation printed above it. When the output is not a
/// terminal (a log file, CI), one plain line per step and per evaluation instead.
/// </summary>
public sealed class ConsoleView : ITrainingView
{
    readonly IAnsiConsole _console;
    readonly string _title;
    ProgressTask? _task;
    string _lastEval = "", _metrics = "";

    public ConsoleView(string title, IAnsiConsole? console = null)
    {
        (_title, _console) = (title, console ?? AnsiConsole.Console);
        // A log file or a pipe has no width: Spectre would break lines at its default 80 columns, in the middle of a step's line.
        if (!Interactive) _console.Profile.Width = Math.Max(_console.Profile.Width, PlainLineWidth);
    }

    /// <summary>The width plain (non-terminal) output assumes: wide enough that no step or evaluation line is broken.</summary>
    public const int PlainLineWidth = 4096;

    bool Interactive => _console.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="body"/> (the training loop, which calls <see cref="Step"/> and <see cref="Evaluated"/>) under the view.</summary>
    public void Run(long totalSteps, Action<ConsoleView> body)
    {
        if (!Interactive) { body(this); return; }
        _console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 30 }, new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn())
            // The step's numbers and the latest evaluation on lines of their own under the bar (they wrap on a narrow terminal).
            .UseRenderHook((bar, _) => new Rows(bar, new Markup(Markup.Escape(_metrics)), new Markup($"[grey]{Markup.Escape(_lastEval)}[/]")))
            .Start(context =>
            {
                _task = context.AddTask($"[bold]{Markup.Escape(_title)}[/]", maxValue: Math.Max(totalSteps, 1));
                body(this);
                _task.StopTask();
            });
    }

    public void Step(long step, long totalSteps, IReadOnlyList<KeyValuePair<string, double?>> metrics)
    {
        var line = StepLine(step, totalSteps, metrics);
        if (_task is null) { _console.WriteLine(line); return; }
        _metrics = line;
        _task.Description = $"[bold]{Markup.Escape(_title)}[/] step {step}/{totalSteps}";
        _task.Value = step;
    }

    public void Evaluated(EvalSummary s)
    {
        _lastEval = $"last evaluation: step {s.Step} {s.Split} {s.Setting} accuracy {Format(s.Accuracy)}";
        var line = $"eval step {s.Step}  {s.Split,-10} {s.Setting,-22} accuracy {Format(s.Accuracy)} ({s.Solved}/{s.Questions})  " +
                   $"length {Format(s.MeanResponseTokens, "F1")}  {s.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s";
        if (Interactive) _console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        else _console.WriteLine(line);
    }

    /// <summary>"step 12/50  reward 0.375  acc 0.31  len 41.2  rollout 850 tok/s  update 2.1k tok/s".</summary>
    public static string StepLine(long step, long totalSteps, IReadOnlyList<KeyValuePair<string, double?>> metrics)
    {
        double? Get(string name) => metrics.FirstOrDefault(kv => kv.Key == name).Value;
        return $"step {step}/{totalSteps}  reward {Format(Get("reward/total"))}  acc {Format(Get("accuracy/train"), "F2")}  " +
               $"len {Format(Get("response/length_mean"), "F1")}  rollout {Rate(Get("speed/rollout_tokens_per_s"))} tok/s  " +
               $"update {Rate(Get("speed/update_tokens_per_s"))} tok/s";
    }

    static string Format(double? v, string format = "F3") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "–";

    static string Rate(double? v) => v switch
    {
        null => "–",
        >= 10_000 => (v.Value / 1000).ToString("F0", CultureInfo.InvariantCulture) + "k",
        >= 1000 => (v.Value / 1000).ToString("F1", CultureInfo.InvariantCulture) + "k",
        _ => v.Value.ToString("F0", CultureInfo.InvariantCulture),
    };
}

using Ril.Tensors.IO;

namespace Ril.Cli.Tests;

/// <summary>
/// One tiny recipe, trained once by a single process; the data-parallel runs must end at the same parameters.
/// </summary>
public sealed class SingleProcessReference : IDisposable
{
    public const string Name = "one-process";
    public TinyRecipe Recipe { get; }
    readonly string _folder = Directory.CreateTempSubdirectory("ril-distributed-").FullName;

    public SingleProcessReference()
    {
        Recipe = TinyRecipe.Write(_folder);
        Processes.Check([.. Processes.Ril, "train", "--config", Recipe.Recipe(Name)], new Dictionary<string, string> { ["RIL_THREADS"] = "2" });
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

/// <summary>
/// Data-parallel `ril train` over Open MPI: 20 steps of a fixed-seed Dr.GRPO run give the same parameters (within 1e-5
/// relative) with 2 ranks as with 1 process and the same global batch — on one machine, and on two hosts (network
/// namespaces joined by a veth pair) talking TCP. Needs Open MPI's mpirun (Debian: openmpi-bin); .ci/run installs it.
/// </summary>
public sealed class DistributedTrainingTests(SingleProcessReference reference) : IClassFixture<SingleProcessReference>
{
    const double Tolerance = 1e-5;
    internal static readonly Dictionary<string, string> RootAllowed = new()
    {
        ["OMPI_ALLOW_RUN_AS_ROOT"] = "1", ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1", ["OMPI_MCA_rmaps_base_oversubscribe"] = "1",
    };

    /// <summary>mpirun, or the test reports itself skipped with what to install.</summary>
    internal static string Mpirun
    {
        get
        {
            Skip.IfNot(Processes.OnPath("mpirun"), "mpirun not found: the distributed tests need Open MPI (Debian: apt-get install openmpi-bin)");
            return "mpirun";
        }
    }

    [SkippableFact]
    public void Two_ranks_on_one_machine_end_at_the_parameters_of_one_process()
    {
        const string name = "two-ranks";
        Processes.Check([Mpirun, "--allow-run-as-root", "-np", "2", "--bind-to", "none", "-x", "RIL_THREADS=1",
            "--mca", "btl", "self,tcp", .. Processes.Ril, "train", "--config", reference.Recipe.Recipe(name)], RootAllowed);
        AssertSameRun(name);
    }

    [SkippableFact]
    public void Two_hosts_over_tcp_end_at_the_parameters_of_one_process()
    {
        const string name = "two-hosts";
        using var hosts = new NamespacedHosts();
        var agent = hosts.WriteAgent(reference.Recipe.Folder);
        Processes.Check(["ip", "netns", "exec", hosts.Namespaces[0], Mpirun, "--allow-run-as-root", "-np", "2",
            "--host", string.Join(',', hosts.Addresses.Select(a => a + ":1")), "--bind-to", "none", "-x", "RIL_THREADS=1",
            "--mca", "plm_rsh_agent", agent, "--mca", "btl", "self,tcp",
            "--mca", "btl_tcp_if_include", NamespacedHosts.Subnet, "--mca", "oob_tcp_if_include", NamespacedHosts.Subnet,
            .. Processes.Ril, "train", "--config", reference.Recipe.Recipe(name)], RootAllowed);
        AssertSameRun(name);
        long gradientBytes = 20L * 4 * Parameters(reference.Recipe.ModelDirectory).Values.Sum(v => v.Length);   // at least one sum per step
        Assert.True(hosts.BytesSent() > gradientBytes, $"only {hosts.BytesSent()} bytes crossed the veth pair; 20 gradient sums alone are {gradientBytes}");
    }

    [SkippableFact]
    public void A_run_of_one_process_resumed_by_two_ranks_ends_at_the_parameters_of_one_process()
    {
        const string name = "resumed-by-two-ranks";
        var recipe = reference.Recipe.Recipe(name);
        Processes.Check([.. Processes.Ril, "train", "--config", recipe, "--set", "trainer.steps=10"], new Dictionary<string, string> { ["RIL_THREADS"] = "2" });
        Processes.Check([Mpirun, "--allow-run-as-root", "-np", "2", "--bind-to", "none", "-x", "RIL_THREADS=1",
            "--mca", "btl", "self,tcp", .. Processes.Ril, "train", "--config", recipe, "--resume"], RootAllowed);
        AssertSameParameters(name);
        Assert.Equal(20, File.ReadLines(Path.Combine(reference.Recipe.RunDirectory(name), "metrics.jsonl")).Count());
    }

    /// <summary>
    /// RIL with 2 ranks: each takes half of every batch's questions, their teacher draws follow the global batch index, the
    /// discriminator's gradients are summed like the policy's, and the step metrics are pooled — so the student and the
    /// discriminator end where one process's do, with the same per-step discriminator and similarity metrics.
    /// </summary>
    [SkippableFact]
    public void Ril_on_two_ranks_ends_at_the_student_and_discriminator_of_one_process()
    {
        var one = reference.Recipe.RilRecipe("ril-one-process");
        var two = reference.Recipe.RilRecipe("ril-two-ranks");
        Processes.Check([.. Processes.Ril, "train", "--config", one], new Dictionary<string, string> { ["RIL_THREADS"] = "2" });
        Processes.Check([Mpirun, "--allow-run-as-root", "-np", "2", "--bind-to", "none", "-x", "RIL_THREADS=1",
            "--mca", "btl", "self,tcp", .. Processes.Ril, "train", "--config", two], RootAllowed);
        foreach (var part in new[] { "model", "discriminator" })
        {
            var expected = Parameters(Path.Combine(reference.Recipe.RunDirectory("ril-one-process"), part));
            var actual = Parameters(Path.Combine(reference.Recipe.RunDirectory("ril-two-ranks"), part));
            double difference = RelativeDistance(actual, expected);
            Assert.True(difference <= Tolerance, $"RIL's {part}: the two ranks' parameters differ from one process's by {difference:E2} relative");
        }
        var metrics = new[] { "ril-one-process", "ril-two-ranks" }.Select(run => File.ReadLines(Path.Combine(reference.Recipe.RunDirectory(run), "metrics.jsonl"))
            .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList()).ToList();
        Assert.Equal(20, metrics[1].Count);
        foreach (var key in new[] { "disc/accuracy_student", "disc/accuracy_teacher", "ril/similarity_student", "ril/answer_student", "teacher/terse/share" })
            for (int step = 0; step < 20; step++)
            {
                double a = metrics[0][step]![key]!.GetValue<double>(), b = metrics[1][step]![key]!.GetValue<double>();
                Assert.True(Math.Abs(a - b) <= 1e-4, $"step {step + 1} {key}: one process {a}, two ranks {b}");
            }
    }

    /// <summary>
    /// ZPPO with 2 ranks: every rank keeps the whole replay buffer and updates it from the accuracies of the global batch,
    /// takes its share of the replayed questions, and renders the BCQ and NCQ prompts of the hard questions it holds under
    /// batch indices that do not depend on the rank — so the student, the buffer's metrics and the prompts' counts are one
    /// process's. One mini-batch a step holds every row, so the rows' order across the ranks cannot matter.
    /// </summary>
    [SkippableFact]
    public void Zppo_on_two_ranks_ends_at_the_student_and_buffer_of_one_process()
    {
        string Recipe(string name)
        {
            var path = reference.Recipe.RilRecipe(name, steps: 8);
            File.WriteAllText(path, File.ReadAllText(path).Replace("mini_batch_size: 32", "mini_batch_size: 512")
                .Replace("ril:\n", "ril:\n  guidance: zppo\n  teacher_tokens: none\n") + """
                zppo:
                  replay_per_step: 2
                  hard_per_step: 2

                """);
            return path;
        }
        var one = Recipe("zppo-one-process");
        var two = Recipe("zppo-two-ranks");
        Processes.Check([.. Processes.Ril, "train", "--config", one], new Dictionary<string, string> { ["RIL_THREADS"] = "2" });
        Processes.Check([Mpirun, "--allow-run-as-root", "-np", "2", "--bind-to", "none", "-x", "RIL_THREADS=1",
            "--mca", "btl", "self,tcp", .. Processes.Ril, "train", "--config", two], RootAllowed);
        var expected = Parameters(Path.Combine(reference.Recipe.RunDirectory("zppo-one-process"), "model"));
        var actual = Parameters(Path.Combine(reference.Recipe.RunDirectory("zppo-two-ranks"), "model"));
        double difference = RelativeDistance(actual, expected);
        Assert.True(difference <= Tolerance, $"ZPPO's student: the two ranks' parameters differ from one process's by {difference:E2} relative");
        var metrics = new[] { "zppo-one-process", "zppo-two-ranks" }.Select(run => File.ReadLines(Path.Combine(reference.Recipe.RunDirectory(run), "metrics.jsonl"))
            .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList()).ToList();
        Assert.Equal(8, metrics[1].Count);
        Assert.Contains(metrics[0], m => m["zppo/bcq_prompts"]!.GetValue<double>() + m["zppo/ncq_prompts"]!.GetValue<double>() > 0);   // the prompts were exercised
        foreach (var key in new[] { "zppo/buffer_size", "zppo/admitted", "zppo/graduated", "zppo/hard_questions", "zppo/bcq_prompts", "zppo/ncq_prompts" })
            for (int step = 0; step < 8; step++)
                Assert.Equal(metrics[0][step]![key]!.GetValue<double>(), metrics[1][step]![key]!.GetValue<double>());
    }

    /// <summary>
    /// A fresh data-parallel run: the parameters of <see cref="AssertSameParameters"/>, and rank 0 alone wrote the run's
    /// files (one event file, one metrics line per step), with the sharded evaluations gathered to the single process's.
    /// </summary>
    void AssertSameRun(string name)
    {
        AssertSameParameters(name);
        var run = reference.Recipe.RunDirectory(name);
        Assert.Single(Directory.GetFiles(run, "events.out.tfevents.*"));
        Assert.Equal(20, File.ReadLines(Path.Combine(run, "metrics.jsonl")).Count());
        var evaluations = File.ReadAllLines(Path.Combine(run, "eval", "summary.jsonl"));
        var expectedEvaluations = File.ReadAllLines(Path.Combine(reference.Recipe.RunDirectory(SingleProcessReference.Name), "eval", "summary.jsonl"));
        Assert.Equal(expectedEvaluations.Select(WithoutSeconds), evaluations.Select(WithoutSeconds));
    }

    /// <summary>
    /// The run's final parameters equal the single process's within <see cref="Tolerance"/> (‖θ − θ₁‖₂ / ‖θ₁‖₂ over the whole
    /// model: element-wise ratios are meaningless for parameters whose true gradient is zero, such as attention key biases,
    /// where Adam turns rounding noise into steps), and training moved them by far more than that.
    /// </summary>
    void AssertSameParameters(string name)
    {
        var expected = Parameters(Path.Combine(reference.Recipe.RunDirectory(SingleProcessReference.Name), "model"));
        var actual = Parameters(Path.Combine(reference.Recipe.RunDirectory(name), "model"));
        var start = Parameters(reference.Recipe.ModelDirectory);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        double difference = RelativeDistance(actual, expected), moved = RelativeDistance(start, expected);
        var worst = expected.Keys.MaxBy(k => Distance(actual[k], expected[k]))!;
        Assert.True(difference <= Tolerance, $"{name}: the parameters differ from the single process's by {difference:E2} relative (allowed {Tolerance:E0}); " +
            $"most in '{worst}' ({Distance(actual[worst], expected[worst]):E2})");
        Assert.True(moved > 100 * Tolerance, $"training moved the parameters by only {moved:E2} relative: the equality would prove nothing");
    }

    internal static Dictionary<string, float[]> Parameters(string modelDir) =>
        SafeTensors.Read(Path.Combine(modelDir, "model.safetensors")).Tensors.ToDictionary(t => t.Name, t => t.Data);

    static double Distance(float[] a, float[] b) => Math.Sqrt(a.Zip(b).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)));

    /// <summary>‖a − b‖₂ / ‖b‖₂ over all tensors together.</summary>
    internal static double RelativeDistance(Dictionary<string, float[]> a, Dictionary<string, float[]> b) =>
        Math.Sqrt(b.Keys.Sum(k => Math.Pow(Distance(a[k], b[k]), 2)) / b.Values.Sum(v => v.Sum(x => (double)x * x)));

    static string WithoutSeconds(string summaryLine) => System.Text.RegularExpressions.Regex.Replace(summaryLine, "\"seconds\":[0-9.eE+-]+", "");
}

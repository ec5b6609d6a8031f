namespace Ril.Cli.Tests;

/// <summary>
/// A recipe whose sizes ask for more memory than the machine has is refused before anything they size is allocated.
/// Before this test `ril train` went on to sample Q·G rollouts at once and allocated until the process died (here, under
/// a 512 MB heap limit, an OutOfMemoryException's stack trace). The heap limit makes "the memory available" the same on
/// every machine.
/// </summary>
public class RecipeMemoryTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-recipe-memory-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static readonly Dictionary<string, string> HalfAGigabyte = new() { ["DOTNET_GCHeapHardLimit"] = "0x20000000" };

    [Fact]
    public void A_recipe_larger_than_memory_is_refused_naming_the_file_the_key_the_estimate_and_the_memory()
    {
        var tiny = TinyRecipe.Write(Path.Combine(_dir, "tiny"), sftSteps: 1);
        var recipe = tiny.Recipe("huge", steps: 1);
        var result = Processes.Run([.. Processes.Ril, "train", "--config", recipe, "--set", "trainer.questions_per_step=4096",
            "--set", "rollout.group_size=64", "--set", "rollout.max_response_tokens=400"], HalfAGigabyte);
        Assert.NotEqual(0, result.ExitCode);
        Assert.DoesNotContain("Unhandled exception", result.Output);
        Assert.DoesNotContain("OutOfMemory", result.Output);
        var error = result.Output.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains(recipe, error);
        Assert.Contains("trainer.questions_per_step (4096) × rollout.group_size (64)", error);
        Assert.Matches(@"about [\d.]+ GB", error);
        Assert.Contains("more than the 0.5 GB available", error);
        Assert.False(Directory.Exists(Path.Combine(tiny.RunDirectory("huge"), "checkpoints")), "nothing of the run was written");

        // Rollouts that fit, with a micro-batch whose logits do not: the micro-batch is named.
        var micro = Processes.Run([.. Processes.Ril, "train", "--config", recipe, "--set", "trainer.questions_per_step=64", "--set", "rollout.group_size=64",
            "--set", "trainer.micro_batch_size=4096", "--set", "trainer.mini_batch_size=4096", "--set", "rollout.max_response_tokens=400"], HalfAGigabyte);
        Assert.NotEqual(0, micro.ExitCode);
        Assert.Contains("trainer.micro_batch_size (4096) × rollout.max_response_tokens (400) response slots", micro.Output);
        Assert.DoesNotContain("Unhandled exception", micro.Output);
    }
}

using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>Recipes: the papers' settings read right; unknown keys, wrong types, bad values and missing files are one-line errors naming the key or file.</summary>
public class RecipeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-recipe-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    string Write(string yaml)
    {
        var path = Path.Combine(_dir, "recipe.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    const string Minimal = "model:\n  path: models/tiny\ndata:\n  train: data/train.jsonl\n";

    [Fact]
    public void Reads_rils_settings_and_overrides()
    {
        var path = Write(Minimal.Replace("  path: models/tiny\n", "  path: models/tiny\n  trainable: [projector, lm]\n") + """
            trainer:
              algo: ril
              lr: 1e-6
            rollout:
              group_size: 4
              temperature: 1.0
              top_p: 0.95
              top_k: 50
              repetition_penalty: 1.05
            loss:
              kl_coef: 0.01
            ril:
              teacher_cache: data/teachers.jsonl
              teachers: [terse, grouper]
              teacher_sampling: fixed_quota
              teacher_quota: terse:3, grouper:1
              similarity: 3-level
              teachers_in_group: false
            discriminator:
              lr: 1e-5
              updates: 2
              input: question_and_response
            disc_pretrain:
              responses: 16
            """);
        var r = Recipe.Load(path, ["trainer.lr=2e-6", "run.name=ablation", "ril.discriminator=frozen"]);
        Assert.Equal(StudentBaseline.Group, r.Ril.StudentBaseline);
        Assert.Equal(["grouper", "terse"], Recipe.Load(path, ["ril.teachers=[grouper, terse]"]).Ril.Teachers!);   // --set in YAML's flow style
        Assert.Equal(StudentBaseline.Students, Recipe.Load(path, ["ril.teachers_in_group=true", "ril.student_baseline=students"]).Ril.StudentBaseline);
        Assert.Equal("data/teachers.jsonl", r.TeacherCache);
        Assert.Equal(["terse", "grouper"], r.Ril.Teachers!);
        Assert.Equal(Ril.Data.TeacherSampling.FixedQuota, r.Ril.TeacherSampling);
        Assert.Equal(3, r.Ril.TeacherQuota!["terse"]);
        Assert.Equal((Ril.Rewards.SimilarityKind.Levels3, false, DiscriminatorMode.Frozen), (r.Ril.Similarity, r.Ril.TeachersInGroup, r.Ril.Discriminator));
        Assert.Equal((1e-5f, 2, DiscriminatorInput.QuestionAndResponse), (r.Ril.DiscriminatorSettings.LearningRate, r.Ril.DiscriminatorSettings.Updates, r.Ril.DiscriminatorSettings.Input));
        Assert.Equal(16, r.Pretrain.Responses);
        Assert.Equal(Objective.Ril, r.Rl.Objective);
        Assert.Equal(2e-6f, r.Rl.LearningRate);
        Assert.Equal((4, 1f, 0.95f, 50, 1.05f, 0.01f), (r.Rl.GroupSize, r.Rl.Temperature, r.Rl.TopP, r.Rl.TopK, r.Rl.RepetitionPenalty, r.Rl.KlCoef));
        Assert.Equal(["projector", "lm"], r.TrainableParts);
        Assert.Equal(Path.Combine("runs", "ablation"), r.RunDirectory);
        Assert.Equal("ril", r.ToJson()["trainer"]!["algo"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("trainer:\n  algo: ril\n", "ril.teacher_cache")]
    [InlineData("trainer:\n  algo: ril\nril:\n  teacher_cache: t.jsonl\n  teacher_sampling: fixed_quota\n  teacher_quota: terse:1\n", "ril.teacher_quota")]
    [InlineData("trainer:\n  algo: ril\nril:\n  teacher_cache: t.jsonl\n  similarity: fuzzy\n", "ril.similarity")]
    [InlineData("trainer:\n  algo: ril\nril:\n  teacher_cache: t.jsonl\n  student_baseline: teachers\n", "ril.student_baseline")]
    [InlineData("trainer:\n  algo: ril\nril:\n  teacher_cache: t.jsonl\n  teachers_in_group: false\n  student_baseline: students\n", "ril.student_baseline")]
    [InlineData("trainer:\n  algo: ril\nril:\n  teacher_cache: t.jsonl\n  discriminator: none\nreward:\n  answer_weight: 0\n", "ril.answer_weight")]
    public void Ril_settings_that_cannot_work_are_errors_naming_the_key(string yaml, string key)
    {
        var e = Assert.Throws<RecipeException>(() => Recipe.Load(Write(Minimal + yaml)));
        Assert.Contains(key, e.Message);
    }

    [Theory]
    [InlineData("trainer:\n  learning_rate: 1e-6\n", "line 6", "trainer.learning_rate", "unknown key")]
    [InlineData("trainer:\n  lr: fast\n", "line 6", "trainer.lr", "expected a number")]
    [InlineData("trainer:\n  lr: 0\n", "line 6", "trainer.lr", "out of range")]
    [InlineData("rollout:\n  group_size: 2.5\n", "line 6", "rollout.group_size", "whole number")]
    [InlineData("rollout:\n  top_p: 1.5\n", "line 6", "rollout.top_p", "out of range")]
    [InlineData("loss:\n  mask_truncated: maybe\n", "line 6", "loss.mask_truncated", "true or false")]
    [InlineData("trainer:\n  algo: ppo\n", "line 6", "trainer.algo", "unknown objective")]
    [InlineData("optimiser:\n  lr: 1\n", "line 6", "optimiser.lr", "sections:")]
    public void Errors_name_the_file_line_and_key(string extra, string line, string key, string what)
    {
        var path = Write(Minimal + extra);
        var e = Assert.Throws<RecipeException>(() => Recipe.Load(path));
        Assert.Contains(path + ":" + line.Split(' ')[1], e.Message);
        Assert.Contains($"'{key}'", e.Message);
        Assert.Contains(what, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Override_and_file_errors()
    {
        var path = Write(Minimal);
        var e = Assert.Throws<RecipeException>(() => Recipe.Load(path, ["trainer.lr"]));
        Assert.Contains("--set trainer.lr", e.Message);
        e = Assert.Throws<RecipeException>(() => Recipe.Load(path, ["trainer.mini_batch_size=3", "trainer.micro_batch_size=2"]));
        Assert.Contains("trainer.mini_batch_size", e.Message);
        e = Assert.Throws<RecipeException>(() => Recipe.Load(Path.Combine(_dir, "missing.yaml")));
        Assert.Contains("missing.yaml", e.Message);
        e = Assert.Throws<RecipeException>(() => Recipe.Load(Write("data:\n  train: x.jsonl\n")));
        Assert.Contains("model.path", e.Message);
        e = Assert.Throws<RecipeException>(() => Recipe.Load(Write("model: [1, 2\n")));
        Assert.Contains("not valid YAML", e.Message);
    }
}

public sealed class RecipeDifferenceTests
{
    [Fact]
    public void Differences_name_each_changed_key_with_both_values()
    {
        var was = new System.Text.Json.Nodes.JsonObject { ["trainer"] = new System.Text.Json.Nodes.JsonObject { ["lr"] = 1e-5, ["steps"] = 10 }, ["run"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "a" } };
        var now = new System.Text.Json.Nodes.JsonObject { ["trainer"] = new System.Text.Json.Nodes.JsonObject { ["lr"] = 2e-5, ["steps"] = 10, ["seed"] = 3 }, ["run"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "a" } };
        var changes = Recipe.Differences(was, now);
        Assert.Equal(["trainer.lr", "trainer.seed"], changes.Select(c => c.Key));
        Assert.Equal(("null", "3"), (changes[1].Was, changes[1].Now));
        Assert.Empty(Recipe.Differences(was, was));
    }

    [Fact]
    public void A_key_newer_than_the_saved_config_counts_as_its_default()
    {
        // A run saved before discriminator.share_prefix existed resumes with it off, and is refused with it on.
        var now = new Recipe().ToJson();
        var saved = (System.Text.Json.Nodes.JsonObject)now.DeepClone();
        ((System.Text.Json.Nodes.JsonObject)saved["discriminator"]!).Remove("share_prefix");
        Assert.Equal(["discriminator.share_prefix"], Recipe.Differences(saved, now).Select(c => c.Key));   // without defaults: null → false
        Assert.Empty(Recipe.Differences(saved, now, new Recipe().ToJson()));
        var on = new Recipe { Ril = new RilConfig { DiscriminatorSettings = new DiscriminatorConfig { SharePrefix = true } } }.ToJson();
        Assert.Equal([("discriminator.share_prefix", "false", "true")], Recipe.Differences(saved, on, new Recipe().ToJson()));
    }
}

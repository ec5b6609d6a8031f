using System.CommandLine;
using System.Text.Json;
using Ril.Data;
using Ril.Models;
using Ril.Text;
using Ril.Training;

namespace Ril.Cli.Commands;

/// <summary>
/// `ril disc pretrain --config RECIPE`: RIL's stage 2 (docs/spec/RIL.md). The discriminator starts from the recipe's student,
/// sees N student responses per training question (sampled with the recipe's rollout settings) and N per teacher from
/// the recipe's teacher cache, trains with BCE (student 1, teacher 0), and reports accuracy and AUC on held-out
/// questions, overall and per teacher. Writes a folder that a RIL recipe names in ril.discriminator_init.
/// </summary>
public static class DiscriminatorCommands
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "YAML recipe: model (a directory or a Hub id Org/Name[@revision]), data.train, ril.teacher_cache, and the discriminator / disc_pretrain sections", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a recipe key: --set disc_pretrain.epochs=4 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var output = new Option<string?>("--out") { Description = "Folder for the discriminator (default: OUT/NAME-discriminator of the recipe)" };
        var pretrain = new Command("pretrain", "Pre-train RIL's discriminator on student and teacher responses; report held-out accuracy and AUC per teacher.")
            { config, set, output };
        pretrain.SetAction(parse => ErrorReporting.Run(() =>
        {
            var recipe = Recipe.Load(parse.GetValue(config)!, (parse.GetValue(set) ?? []).Append("trainer.algo=ril"));
            return Pretrain(recipe, parse.GetValue(output) ?? recipe.RunDirectory + "-discriminator");
        }));
        return new Command("disc", "RIL's discriminator.") { pretrain };
    }

    public static int Pretrain(Recipe recipe, string outDir)
    {
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new ArgumentException($"{outDir} already exists: choose another --out");
        var policy = ChatModel.Load(ModelArgument.Resolve(recipe.Model));   // a directory, or a Hub id's cached snapshot
        recipe.CheckModel(policy.Model);
        var train = DatasetSource.Load(recipe.TrainData, recipe.DataKeys, recipe.TextOnly ? ImageMode.TextOnly : ImageMode.Require);
        var flow = new DataFlow(train, policy, recipe.Rl.Seed);
        var cache = TeacherCache.Load(recipe.TeacherCache!);
        var questions = (recipe.Pretrain.Questions > 0 ? train.Take(recipe.Pretrain.Questions) : train).Select(flow.Render).ToList();
        var (trainer, result) = DiscriminatorTrainer.PretrainFromStudent(policy, questions, recipe.Rl, cache, recipe.Ril.DiscriminatorSettings,
            recipe.Pretrain, recipe.Ril.Teachers, recipe.Rl.Seed, Console.WriteLine,
            (step, total, loss) => { if (step % 10 == 0 || step == total) Console.WriteLine($"  step {step,4}/{total}  BCE {loss:F3}"); });
        Console.WriteLine(Summary(result));
        trainer.Discriminator.Save(outDir, result.ToJson());
        File.WriteAllText(Path.Combine(outDir, "report.json"), result.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"discriminator → {outDir} (set ril.discriminator_init: {outDir} in the RIL recipe)");
        return 0;
    }

    /// <summary>The held-out report as a small table: before and after, overall and per teacher.</summary>
    public static string Summary(DiscriminatorPretrainResult r)
    {
        var lines = new List<string>
        {
            "held-out          accuracy        AUC             mean D",
            $"  all             {r.Before.Accuracy,5:F3} → {r.After.Accuracy,5:F3}   {r.Before.Auc,5:F3} → {r.After.Auc,5:F3}",
            $"  student         {r.Before.StudentAccuracy,5:F3} → {r.After.StudentAccuracy,5:F3}                   {r.Before.StudentScore,5:F3} → {r.After.StudentScore,5:F3}",
        };
        foreach (var (name, after) in r.After.PerTeacher)
        {
            var before = r.Before.PerTeacher[name];
            lines.Add($"  {name,-15} {before.Accuracy,5:F3} → {after.Accuracy,5:F3}   {before.Auc,5:F3} → {after.Auc,5:F3}   {before.Score,5:F3} → {after.Score,5:F3}");
        }
        return string.Join("\n", lines);
    }
}

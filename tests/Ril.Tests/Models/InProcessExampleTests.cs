using Ril.Data.Images;
using Ril.Data.Synth;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Models;

/// <summary>
/// The README's in-process example (load a trained student, answer a question about an image), kept compiling and
/// running here against a tiny student saved by <see cref="SftRun"/>.
/// </summary>
public sealed class InProcessExampleTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-example-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Readme_example_answers_a_question_about_an_image()
    {
        var suite = Path.Combine(_dir, "suite");
        SuiteWriter.Write(suite, new SuiteOptions(Seed: 1, TrainRows: 4, ValRows: 0, TestRows: 0, ImageSize: 32));
        var studentDir = Path.Combine(_dir, "student");
        SftRun.Run(new SftRunOptions
        {
            Init = "tiny", TokenizerPath = Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json"),
            DataPath = Path.Combine(suite, "train.jsonl"), OutDir = studentDir, Steps = 2, BatchSize = 2,
        });
        var imagePath = Directory.GetFiles(Path.Combine(suite, "images"))[0];

        // ---- the README example, as written there (paths aside) ----
        var student = ChatModel.Load(studentDir);
        var image = ImageFile.Load(imagePath);
        var prompt = student.EncodeChat([ChatMessage.User("How many red circles are there?", images: 1)]);
        var request = student.Request(prompt, [image]);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 64, StopTokens = student.StopTokens };
        var reply = student.NewGenerator().Generate([request], options)[0][0];
        Console.WriteLine(reply.Text);
        // ----

        Assert.NotNull(reply.Text);
        Assert.InRange(reply.TokenIds.Length, 1, 64);
    }
}

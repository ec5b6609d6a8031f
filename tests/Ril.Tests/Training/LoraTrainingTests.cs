using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Optim;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>LoRA in training: the reference as a view of the base, and a discriminator sharing the student's frozen base.</summary>
public class LoraTrainingTests
{
    static readonly LoraConfig Lora = new() { Rank = 2, Alpha = 4 };

    static ChatModel StudentWithAdapters(out LoraAdapters adapters)
    {
        var student = TinyModels.TextPolicy(5);
        adapters = LoraAdapters.Attach(student.Vlm().Text, Lora, new Rng(1));
        var rng = new Rng(2);
        foreach (var a in adapters.All) rng.FillNormal(a.B.Data, 0.1f);   // a trained adapter: the student differs from its base
        return student;
    }

    static float[] Logits(VisionLanguageModel m, int[] ids) { using (NoGrad.Begin()) return m.Logits(ids, 1).ToArray(); }

    [Fact]
    public void The_base_view_is_the_reference_without_a_copy()
    {
        int[] ids = [5, 9, 14, 3, 7];
        var fresh = Logits(TinyModels.TextPolicy(5).Vlm(), ids);
        var student = StudentWithAdapters(out var adapters);
        var reference = student.Vlm().BaseView();
        Assert.Same(student.Vlm().Text.Layers[0].DownProj, reference.Text.Layers[0].DownProj);
        Assert.Same(student.Vlm().Text.EmbedTokens, reference.Text.EmbedTokens);
        Assert.Equal(fresh, Logits(reference, ids));
        using (adapters.Disabled()) Assert.Equal(fresh, Logits(student.Vlm(), ids));
        Assert.NotEqual(fresh, Logits(student.Vlm(), ids));
    }

    [Fact]
    public void A_lora_discriminator_trains_its_adapters_and_head_over_the_students_base()
    {
        Assert.Throws<InvalidOperationException>(() => Discriminator.FromStudentWithLora(TinyModels.TextPolicy(5), Lora, new Rng(3), DiscriminatorInput.Response, 16));

        var student = StudentWithAdapters(out var studentAdapters);
        var d = Discriminator.FromStudentWithLora(student, Lora, new Rng(3), DiscriminatorInput.Response, 16);
        Assert.Same(student.Vlm().Text.Layers[0].QProj, ((DecoderLM)d.Model.Backbone).Layers[0].QProj);
        var trained = d.Parameters().ToList();
        Assert.Equal(d.Adapters!.Parameters().Append(d.Model.Score), trained);
        var optimizer = new AdamW(trained, 1e-3f);   // every trained tensor requires grad, names are unique

        var batch = new[] { new DiscriminatorExample("q", "a student answer", Rollout.Student), new DiscriminatorExample("q", "a teacher answer", "teacher") };
        Discriminator.Loss(d.Logits(batch), batch.Select(e => e.Label).ToArray()).Backward();
        Assert.All(trained, p => Assert.NotNull(p.Grad));
        Assert.All(studentAdapters.Parameters(), p => Assert.Null(p.Grad));
        Assert.All(student.Parameters(), p => Assert.Null(p.Grad));
        var before = d.Probabilities(batch);
        optimizer.Step();
        Assert.NotEqual(before, d.Probabilities(batch));
        Assert.Throws<InvalidOperationException>(() => d.Save(Path.GetTempPath()));
    }
}

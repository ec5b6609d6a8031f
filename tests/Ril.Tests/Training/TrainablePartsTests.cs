using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Training;

namespace Ril.Tests.Training;

public class TrainablePartsTests
{
    [Fact]
    public void Parts_select_by_name_and_frozen_parameters_get_no_gradient()
    {
        var text = new DecoderConfig { VocabSize = 20, HiddenSize = 16, IntermediateSize = 24, NumLayers = 1, NumHeads = 2 };
        var vision = new VisionConfig { HiddenSize = 8, IntermediateSize = 8, NumLayers = 1, NumHeads = 2, ImageSize = 4, PatchSize = 2 };
        var vlm = VisionLanguageModel.Create(text, vision, 1, 19, new Rng(1));
        var trainable = TrainableParts.Apply(vlm.Parameters(), ["projector", "lm.mlp.up", "lm.norms"]);
        Assert.All(trainable, t => Assert.True(t.Name!.StartsWith("multi_modal_projector.") || t.Name.Contains("up_proj") || t.Name.Contains("norm")));
        Assert.Contains(trainable, t => t.Name == "model.norm.weight");
        Assert.Contains(trainable, t => t.Name == "model.layers.0.input_layernorm.weight");
        Assert.DoesNotContain(trainable, t => t.Name!.Contains("q_proj") || t.Name.StartsWith("vision_tower."));

        Ops.CrossEntropy(vlm.Logits([1, 19, 19, 19, 19, 2], 1, Tensor.Randn(new Rng(2), 1f, 1, 3, 4, 4)), [-100, -100, -100, -100, -100, 3]).Backward();
        Assert.Null(vlm.Vision!.PatchWeight.Grad);
        Assert.Null(vlm.Text.Layers[0].QProj!.Grad);
        Assert.NotNull(vlm.Projector!.W1.Grad);
        Assert.NotNull(vlm.Text.Layers[0].UpProj.Grad);

        var e = Assert.Throws<ArgumentException>(() => TrainableParts.Apply(vlm.Parameters(), ["lm.mlp.sideways"]));
        Assert.Contains("lm.mlp.sideways", e.Message);
    }

    public static TheoryData<string> Checkpoints => new(TinyModels.ImageCheckpoints);

    /// <summary>
    /// In every family's released layout the three parts split the model: the LM is the decoder (and its head), the
    /// projector the merger or connector, the vision part the rest of the tower; the LM's sub-parts never reach into the
    /// tower (Qwen2.5-VL's vision blocks have mlp.gate_proj too, SigLIP's self_attn, Qwen3-VL's all sit under model.).
    /// </summary>
    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void The_parts_split_every_familys_model_into_decoder_projector_and_tower(string checkpoint)
    {
        var model = TinyModels.FixtureChat(checkpoint).Model;
        var all = model.Parameters().ToList();
        HashSet<string> Names(params string[] parts) => TrainableParts.Apply(all, parts).Select(t => t.Name!).ToHashSet();
        var decoder = model.DecoderParameters().Select(t => t.Name!).ToHashSet();
        var lm = Names("lm");
        Assert.Equal(decoder.Order(), lm.Order());
        var vision = Names("vision");
        var projector = Names("projector");
        Assert.NotEmpty(vision);
        Assert.NotEmpty(projector);
        Assert.Empty(vision.Intersect(projector));
        Assert.Equal(all.Select(t => t.Name!).Except(decoder).Order(), vision.Union(projector).Order());
        foreach (var part in TrainableParts.Parts.Keys.Where(k => k.StartsWith("lm.") && k != "lm.head"))
            Assert.Subset(lm, Names(part));
        Assert.Contains(Names("lm.mlp.gate"), n => n.EndsWith("layers.0.mlp.gate_proj.weight"));
        Assert.Contains(Names("lm.attention"), n => n.Contains("layers.0."));
        Assert.Contains(Names("lm.norms"), n => n.EndsWith("norm.weight") && !n.Contains(".layers."));
    }
}

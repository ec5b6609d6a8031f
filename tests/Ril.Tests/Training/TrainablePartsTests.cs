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
}

using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;
using Xunit;

namespace Ril.Tests.Models;

/// <summary>An inference forward keeps one layer's intermediates at a time, not every layer's (the prefill of a real model at batch 8 ran out of 24 GB).</summary>
public class InferenceMemoryTests
{
    /// <summary>Tensors a no-grad forward of the decoder and the vision tower leaves in the caller's scope.</summary>
    static int LeftInScope(int layers, bool withGrad, bool frozen = false, bool recompute = false)
    {
        var (policy, config) = TinyModels.SuiteStudent(32, layers, 3);
        if (frozen) foreach (var p in policy.Parameters()) p.RequiresGrad = false;
        var vlm = policy.Vlm();
        vlm.Text.RecomputeActivations = recompute;
        var ids = Enumerable.Range(0, 2 * 12).Select(i => 5 + i % 40).ToArray();
        var pixels = Tensor.Zeros(1, 3, config.Vision!.ImageSize, config.Vision.ImageSize);
        using IDisposable? noGrad = withGrad ? null : NoGrad.Begin();
        using var scope = TensorScope.Begin();
        vlm.Text.Hidden(ids, 2);
        vlm.ImageFeatures(pixels);
        return scope.Count;
    }

    [Fact]
    public void Without_gradients_each_layer_leaves_only_its_output_behind()
    {
        Assert.Equal(LeftInScope(1, withGrad: false) + 5, LeftInScope(6, withGrad: false));   // the 5 more layers' outputs (hidden states), nothing else
        Assert.True(LeftInScope(6, withGrad: true) > LeftInScope(1, withGrad: true) + 5 * 10, "with gradients every layer's activations stay for backward");
        Assert.Equal(LeftInScope(1, withGrad: true, frozen: true) + 5, LeftInScope(6, withGrad: true, frozen: true));   // a frozen model: no gradient reaches them
        // With recomputation on, a forward without gradients (π_old, π_ref) is still freed layer by layer: a 3B model's
        // log-probs once kept every layer's intermediates there, because the recomputed block ran without a layer scope.
        Assert.Equal(LeftInScope(1, withGrad: false, recompute: true) + 5, LeftInScope(6, withGrad: false, recompute: true));
        Assert.Equal(LeftInScope(1, withGrad: true, recompute: true) + 5, LeftInScope(6, withGrad: true, recompute: true));   // only each block's output is kept
    }
}

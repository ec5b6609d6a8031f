using Ril.Tensors;

namespace Ril.Models;

/// <summary>
/// A language model whose LM head is replaced by a linear d→1 head ("score.weight", as transformers' sequence
/// classification models) read at each row's last non-padding token. RIL's discriminator and reward models use it;
/// D = sigmoid(score).
/// </summary>
public sealed class ScalarHeadModel
{
    public ICausalLM Backbone { get; }
    public Tensor Score { get; }

    public ScalarHeadModel(ICausalLM backbone, Rng rng, float std = 0.02f)
    {
        Backbone = backbone;
        Score = Tensor.Randn(rng, std, 1, backbone.HiddenSize).AsParameter("score.weight");
    }

    /// <summary>Everything but the unused LM head.</summary>
    public IEnumerable<Tensor> Parameters() =>
        Backbone.Parameters().Where(p => !ReferenceEquals(p, Backbone.UntiedHead)).Append(Score);

    /// <summary>
    /// Scores (logits) [B] for right-padded ids [B·T]: row b's score is read at position lengths[b] − 1.
    /// Padding keys are masked, so padding never changes a score.
    /// </summary>
    public Tensor Forward(int[] ids, int batch, int[] lengths, int padId = 0)
    {
        int t = ids.Length / batch, d = Backbone.HiddenSize;
        if (lengths.Length != batch || lengths.Any(l => l < 1 || l > t))
            throw new ArgumentException($"ScalarHeadModel: lengths [{string.Join(", ", lengths)}] must be {batch} values in [1, {t}]");
        var builder = new ModelInputs.Builder(Backbone, batch, t, padId);
        for (int b = 0; b < batch; b++) builder.Place(b * t, ids.AsSpan(b * t, lengths[b]), 0, null);
        var hidden = Ops.Reshape(Backbone.Hidden(builder.Build()), batch * t, d);
        var last = Ops.Embedding(hidden, Enumerable.Range(0, batch).Select(b => b * t + lengths[b] - 1).ToArray());   // gather rows
        return Ops.Reshape(Ops.Linear(last, Score), batch);
    }
}

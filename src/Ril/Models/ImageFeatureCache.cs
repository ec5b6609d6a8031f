using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;

namespace Ril.Models;

/// <summary>
/// A question's image features computed once while a cache is open on this thread (an RL step: the rollouts' prefill,
/// π_old, π_ref and, when the tower is frozen, the update all read the same images), not once per row and per pass.
/// Features are kept per (tower, the question's <see cref="PixelInputs"/>) as copies that no tensor scope owns; they are
/// used only where no gradient has to reach the tower (under NoGrad, or a tower with no trainable parameter), so a cached
/// value is always what the tower would compute now as long as its weights do not change while the cache is open: open
/// it for one step, around the passes before the optimizer moves the tower.
/// </summary>
public sealed class ImageFeatureCache : IDisposable
{
    [ThreadStatic] static ImageFeatureCache? _current;

    readonly ImageFeatureCache? _parent;
    readonly Dictionary<(object Tower, PixelInputs Pixels), Tensor[]> _features = new(new IdentityPairs());

    ImageFeatureCache(ImageFeatureCache? parent) => _parent = parent;

    /// <summary>Opens a cache on this thread until disposed.</summary>
    public static ImageFeatureCache Begin() => _current = new ImageFeatureCache(_current);

    /// <summary>Prompts whose images a tower encoded while this cache was open (each question's once per tower).</summary>
    public int Encodings { get; private set; }

    public void Dispose()
    {
        if (_current != this) throw new InvalidOperationException("ImageFeatureCache disposed out of order");
        _features.Clear();
        _current = _parent;
    }

    /// <summary>
    /// The features of <paramref name="inputs"/>' images by <paramref name="encode"/> (one or more tensors whose rows follow
    /// the images, concatenated along axis 0 across the inputs' prompts): from the open cache where no gradient has to
    /// reach <paramref name="tower"/> (<paramref name="towerTrains"/>: some of its parameters take gradients), otherwise
    /// computed over all the inputs' pixels at once.
    /// </summary>
    public static Tensor[] Encode(object tower, bool towerTrains, ModelInputs inputs, Func<PixelInputs, Tensor[]> encode)
    {
        var pixels = inputs.Pixels ?? throw new ArgumentException("ImageFeatureCache.Encode: the inputs hold no images");
        var cache = _current;
        if (cache is null || (towerTrains && !NoGrad.IsActive)) return encode(pixels);
        var parts = inputs.PixelParts.Select(part => cache.Of(tower, part, encode)).ToList();
        if (parts.Count == 1) return parts[0];
        return Enumerable.Range(0, parts[0].Length).Select(i => Ops.Concat(parts.Select(p => p[i]).ToList(), 0)).ToArray();
    }

    Tensor[] Of(object tower, PixelInputs part, Func<PixelInputs, Tensor[]> encode)
    {
        if (_features.TryGetValue((tower, part), out var kept)) return kept;
        using (NoGrad.Begin())
        using (TensorScope.Begin())
        {
            var computed = encode(part);
            using (TensorScope.Suspend()) kept = computed.Select(t => t.Detach()).ToArray();   // copies owned by the cache, not the scope
        }
        Encodings++;
        _features[(tower, part)] = kept;
        return kept;
    }

    sealed class IdentityPairs : IEqualityComparer<(object Tower, PixelInputs Pixels)>
    {
        public bool Equals((object Tower, PixelInputs Pixels) a, (object Tower, PixelInputs Pixels) b) =>
            ReferenceEquals(a.Tower, b.Tower) && ReferenceEquals(a.Pixels, b.Pixels);

        public int GetHashCode((object Tower, PixelInputs Pixels) p) =>
            HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(p.Tower), System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(p.Pixels));
    }
}

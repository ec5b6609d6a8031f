using System.Diagnostics.CodeAnalysis;
using Ril.Tensors;

namespace Ril.Models;

/// <summary>
/// What a family's vision tower reads for a list of images, in prompt order: the pixel values (rows of all images laid
/// one after another along the first axis) and, per image, the family's grid (Qwen-VL: temporal, height and width
/// patches; a fixed-size tower: none), with an optional mask over the value rows (padded tiles). The processor makes
/// them; the model reads them (its features, and its positions for image tokens). Nothing else looks inside.
/// </summary>
public sealed record PixelInputs(Tensor Values, IReadOnlyList<int[]> Grids, Tensor? Mask = null)
{
    /// <summary>Pixels of images of one fixed size [images, C, H, W]: no grid needed.</summary>
    [return: NotNullIfNotNull(nameof(values))]
    public static implicit operator PixelInputs?(Tensor? values) => values is null ? null : new(values, []);

    /// <summary>The inputs of several prompts' images as one, in order.</summary>
    public static PixelInputs Concat(IReadOnlyList<PixelInputs> parts)
    {
        if (parts.Count == 1) return parts[0];
        if (parts.Select(p => p.Mask is null).Distinct().Count() > 1) throw new ArgumentException("PixelInputs: some parts have a mask and some do not");
        return new PixelInputs(Ops.Concat(parts.Select(p => p.Values).ToList(), 0), parts.SelectMany(p => p.Grids).ToList(),
            parts[0].Mask is null ? null : Ops.Concat(parts.Select(p => p.Mask!).ToList(), 0));
    }
}

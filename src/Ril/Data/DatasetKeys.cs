namespace Ril.Data;

/// <summary>
/// Which fields of a dataset row (JSONL fields and Parquet columns alike) hold the question, the answer, the solution and
/// the images, as EasyR1's <c>prompt_key</c>/<c>answer_key</c>/<c>image_key</c> name them (docs/spec/DATASETS.md §1). By
/// default MAYE's names; the image field defaults to <c>image</c>, or <c>images</c> when there is no <c>image</c>.
/// </summary>
public sealed record DatasetKeys
{
    public string Question { get; init; } = "question";
    public string Answer { get; init; } = "answer";
    public string Solution { get; init; } = "solution";
    /// <summary>The image column; null: <c>image</c>, else <c>images</c>.</summary>
    public string? Image { get; init; }

    public static DatasetKeys Maye { get; } = new();

    /// <summary>MAYE's names, with each non-null argument in place of its default.</summary>
    public static DatasetKeys With(string? question = null, string? answer = null, string? solution = null, string? image = null) => new()
    {
        Question = question ?? "question", Answer = answer ?? "answer", Solution = solution ?? "solution", Image = image,
    };
}

using System.CommandLine;
using Ril.Data;

namespace Ril.Cli.Commands;

/// <summary>`--question-key`, `--answer-key`, `--solution-key`, `--image-key`: which fields (JSONL) or columns (Parquet) hold what (the recipe's data.*_key).</summary>
internal sealed class DatasetKeyOptions
{
    readonly Option<string?> _question = new("--question-key") { Description = "Field (JSONL) or column (Parquet) holding the question (default: question; geometry3k: problem)" };
    readonly Option<string?> _answer = new("--answer-key") { Description = "Field (JSONL) or column (Parquet) holding the gold answer (default: answer)" };
    readonly Option<string?> _solution = new("--solution-key") { Description = "Field (JSONL) or column (Parquet) holding the worked solution (default: solution)" };
    readonly Option<string?> _image = new("--image-key") { Description = "Field (JSONL) or column (Parquet) holding the images: an Image, a list of them, or binary (default: image, else images)" };

    public void AddTo(Command command)
    {
        command.Add(_question);
        command.Add(_answer);
        command.Add(_solution);
        command.Add(_image);
    }

    public DatasetKeys Keys(ParseResult parse) =>
        DatasetKeys.With(parse.GetValue(_question), parse.GetValue(_answer), parse.GetValue(_solution), parse.GetValue(_image));
}

using System.Text.RegularExpressions;

namespace Ril.Rewards;

/// <summary>What a well-formatted response looks like.</summary>
public enum FormatRule
{
    /// <summary>
    /// MAYE's format reward: exactly one <c>&lt;think&gt;…&lt;/think&gt;</c> block (docs/spec/MAYE.md "Score per
    /// response": accuracy + format + language).
    /// </summary>
    ThinkBlock,
    /// <summary>The response ends its reasoning with a complete <c>\boxed{…}</c> answer (what MAYE's prompt asks for).</summary>
    BoxedAnswer,
    /// <summary>One think block, followed after it by a final answer (a box or an answer block).</summary>
    ThinkThenAnswer,
}

/// <summary>1 for a response in the expected format, else 0.</summary>
public sealed class FormatReward(FormatRule rule = FormatRule.ThinkBlock) : IRewardFunction
{
    public string Name => "format";

    public FormatRule Rule => rule;

    // Non-greedy and across lines, as MAYE counts its matches: "<think>a</think><think>b</think>" is two blocks.
    static readonly Regex ThinkBlock = new("<think>.*?</think>", RegexOptions.Singleline | RegexOptions.CultureInvariant);

    public float Score(string response)
    {
        switch (rule)
        {
            case FormatRule.ThinkBlock:
                return ThinkBlock.Matches(response).Count == 1 ? 1f : 0f;
            case FormatRule.BoxedAnswer:
                return AnswerExtraction.LastBoxed(response) is { Length: > 0 } ? 1f : 0f;
            default:
            {
                var blocks = ThinkBlock.Matches(response);
                if (blocks.Count != 1) return 0f;
                var after = response[(blocks[0].Index + blocks[0].Length)..];
                return AnswerExtraction.Extract(after) is { Source: AnswerSource.Boxed or AnswerSource.AnswerTag, Text.Length: > 0 } ? 1f : 0f;
            }
        }
    }

    public Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default) =>
        Task.FromResult(batch.Select(input => Score(input.Response)).ToArray());
}

using System.Text.RegularExpressions;
using OpenAI.Chat;

namespace Ril.Rewards;

/// <summary>
/// RIL's LLM-as-a-judge prompt (docs/spec/RIL.md "The judge prompt", restated from the paper's Fig. 4): the
/// judge reads the question, the ground truth and the generated text — never the image — explains briefly,
/// and answers 1 when the generated text fully and correctly captures the ground truth's core point, else 0,
/// inside &lt;answer&gt;&lt;/answer&gt;.
/// </summary>
public static class JudgePrompt
{
    public const string System =
        "You are an evaluator. You will be given a question inside <question></question>, its ground-truth answer " +
        "inside <ground truth></ground truth>, and a generated text inside <generated text></generated text>. " +
        "Decide whether the generated text fully and correctly captures the core point of the ground truth. " +
        "First give a brief explanation. Then output 1 if it does, or 0 if it does not, wrapped in <answer></answer>.";

    public static string User(string question, string groundTruth, string generated) =>
        $"<question>{question}</question> <ground truth>{groundTruth}</ground truth> <generated text>{generated}</generated text>\n" +
        "Give your score, 1 or 0, inside <answer></answer>.";

    public static IReadOnlyList<ChatMessage> Messages(string question, string groundTruth, string generated) =>
        [new SystemChatMessage(System), new UserChatMessage(User(question, groundTruth, generated))];

    /// <summary>The question as the judge sees it: image placeholders removed (the judge is text-only).</summary>
    public static string TextOnly(string question) => question.Replace("<image>", "", StringComparison.Ordinal).Trim();

    static readonly Regex Verdict = new(@"<answer>\s*([01])(?:\.0+)?\s*</answer>", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>The verdict in the judge's last &lt;answer&gt; block; null when there is none or it is not 0 or 1 (a parse failure is never a 1).</summary>
    public static int? ParseVerdict(string reply)
    {
        int close = reply.LastIndexOf("</answer>", StringComparison.OrdinalIgnoreCase);
        if (close < 0) return null;
        int open = reply.LastIndexOf("<answer>", close, StringComparison.OrdinalIgnoreCase);
        if (open < 0) return null;
        var match = Verdict.Match(reply[open..(close + "</answer>".Length)]);
        return match.Success ? match.Groups[1].Value[0] - '0' : null;
    }
}

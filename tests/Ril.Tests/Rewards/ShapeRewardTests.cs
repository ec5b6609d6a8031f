using Ril.Rewards;

namespace Ril.Tests.Rewards;

/// <summary>Format, language and length rewards (docs/spec/MAYE.md "Score per response"), and the rule-based answer reward.</summary>
public class ShapeRewardTests
{
    [Theory]
    [InlineData("<think>add the sides</think> \\boxed{12}", 1f)]
    [InlineData("<think>line one\nline two</think>", 1f)]
    [InlineData("no thinking \\boxed{12}", 0f)]
    [InlineData("<think>a</think><think>b</think>", 0f)]
    [InlineData("<think>never closed", 0f)]
    [InlineData("</think> backwards <think>", 0f)]
    public void Mayes_format_reward_wants_exactly_one_think_block(string response, float expected) =>
        Assert.Equal(expected, new FormatReward().Score(response));

    [Fact]
    public void Other_format_rules()
    {
        var boxed = new FormatReward(FormatRule.BoxedAnswer);
        Assert.Equal(1f, boxed.Score("so \\boxed{\\frac{1}{2}}"));
        Assert.Equal(0f, boxed.Score("so \\boxed{\\frac{1}{2}"));
        Assert.Equal(0f, boxed.Score("so \\boxed{}"));
        var thinkThenAnswer = new FormatReward(FormatRule.ThinkThenAnswer);
        Assert.Equal(1f, thinkThenAnswer.Score("<think>x</think> \\boxed{3}"));
        Assert.Equal(1f, thinkThenAnswer.Score("<think>x</think><answer>3</answer>"));
        Assert.Equal(0f, thinkThenAnswer.Score("<think>\\boxed{3}</think> done"));
        Assert.Equal(0f, thinkThenAnswer.Score("\\boxed{3}"));
    }

    [Fact]
    public void Language_penalty_is_the_share_of_chinese_characters()
    {
        var language = new LanguageReward();
        Assert.Equal(0f, language.Score("All English, with LaTeX \\frac{1}{2} and ∠ABC."));
        Assert.Equal(0f, language.Score(""));
        Assert.Equal(-0.1f, language.Score("答案是"), 6);
        Assert.Equal(-0.1f * 2 / 6, language.Score("x = 答案"), 6);  // 2 of 6 characters
        Assert.Equal(-0.5f, new LanguageReward(0.5f).Score("中文"), 6);
    }

    [Fact]
    public void Mayes_length_penalty_replaces_the_score()
    {
        var penalty = new LengthPenalty { MinResponseTokens = 18 };
        var batch = new[]
        {
            new RewardInput("a", "q", "1", "fine") { ResponseTokens = 40, HasEndToken = true },
            new RewardInput("b", "q", "1", "cut off") { ResponseTokens = 2048, HasEndToken = false },
            new RewardInput("c", "q", "1", "short") { ResponseTokens = 5, HasEndToken = true },
            new RewardInput("d", "q", "1", "teacher text, lengths unknown"),
        };
        float[] scores = [2.0f, 1.9f, 1.0f, 1.0f];
        Assert.Equal(2, penalty.Apply(scores, batch));
        Assert.Equal([2.0f, -0.1f, -0.1f, 1.0f], scores);
        var noEndOnly = new LengthPenalty { PenaliseNoEndToken = true };
        Assert.False(noEndOnly.Applies(batch[2]));
        Assert.Throws<ArgumentException>(() => penalty.Apply(new float[3], batch));
    }

    [Fact]
    public async Task Dapos_overlong_penalty_ramps_down_to_minus_one()
    {
        var overlong = new OverlongPenalty(maxTokens: 100, softTokens: 20);
        Assert.Equal(0f, overlong.Score(50));
        Assert.Equal(0f, overlong.Score(80));
        Assert.Equal(-0.5f, overlong.Score(90), 6);
        Assert.Equal(-1f, overlong.Score(100), 6);
        Assert.Equal(-1f, overlong.Score(150));
        var scores = await overlong.ScoreAsync([new RewardInput("a", "q", "1", "r") { ResponseTokens = 95 }, new RewardInput("b", "q", "1", "r")]);
        Assert.Equal(new[] { -0.75f, 0f }, scores);
        Assert.Throws<ArgumentException>(() => new OverlongPenalty(10, 20));
    }

    [Fact]
    public async Task Answer_reward_scores_the_final_answer_of_each_response()
    {
        var reward = new AnswerReward();
        var batch = new[]
        {
            new RewardInput("a", "q", @"\frac { 17 } { 2 } \sqrt { 3 }", @"<think>...</think> The height is \boxed{\frac{17\sqrt{3}}{2}}."),
            new RewardInput("b", "q", "x > -2", @"so \boxed{(-2, +\infty)}"),
            new RewardInput("c", "q", "(-1, -4),(-1, -16),(-1, 0)", @"M is \boxed{(-1,-4)}, \boxed{(-1,-16)} or \boxed{(-1,0)}"),
            new RewardInput("d", "q", "45", @"first \boxed{45}, then on reflection \boxed{50}"),
            new RewardInput("e", "q", "45", "The answer is 45°."),
            new RewardInput("f", "q", "45", "no answer at all"),
        };
        Assert.Equal(new[] { 1f, 1f, 1f, 0f, 1f, 0f }, await reward.ScoreAsync(batch));
        Assert.Equal("answer", reward.Name);
    }
}

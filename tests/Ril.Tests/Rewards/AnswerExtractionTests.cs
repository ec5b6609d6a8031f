using Ril.Rewards;

namespace Ril.Tests.Rewards;

public class AnswerExtractionTests
{
    [Theory]
    [InlineData(@"so x = \boxed{5}.", "5")]
    [InlineData(@"first \boxed{3}, then finally \boxed{\frac{1}{2}}", @"\frac{1}{2}")]
    [InlineData(@"\boxed{\frac{\sqrt{3}}{2}}", @"\frac{\sqrt{3}}{2}")]
    [InlineData(@"\boxed{\{1, 2\}}", @"\{1, 2\}")]
    [InlineData(@"answer: \fbox{42}", "42")]
    [InlineData(@"$\boxed{x > -2}$", "x > -2")]
    [InlineData(@"\boxed 7 is it", "7")]
    [InlineData(@"\boxed{ $12$ }", "12")]
    public void Last_box_with_nested_braces(string response, string expected)
    {
        var answer = AnswerExtraction.Extract(response);
        Assert.NotNull(answer);
        Assert.Equal(expected, answer.Text);
        Assert.Equal(AnswerSource.Boxed, answer.Source);
    }

    [Fact]
    public void A_cut_off_last_box_is_no_answer_not_the_box_before_it()
    {
        Assert.Null(AnswerExtraction.Extract(@"try \boxed{3}, no wait: \boxed{\frac{1}{"));
        Assert.Null(AnswerExtraction.LastBoxed(@"\boxed{12"));
    }

    [Fact]
    public void Box_commands_must_be_whole_names()
    {
        Assert.Null(AnswerExtraction.LastBoxed(@"\boxedtext{3}"));
    }

    [Fact]
    public void Answer_tags_and_the_later_of_box_and_tag()
    {
        Assert.Equal(new ExtractedAnswer("12", AnswerSource.AnswerTag), AnswerExtraction.Extract("<think>maybe \\boxed{11}</think> <answer>12</answer>"));
        Assert.Equal(new ExtractedAnswer("12", AnswerSource.Boxed), AnswerExtraction.Extract("<answer>11</answer> on reflection \\boxed{12}"));
        Assert.Equal(new ExtractedAnswer(@"\frac{1}{2}", AnswerSource.AnswerTag), AnswerExtraction.Extract("<answer>The value is \\boxed{\\frac{1}{2}}</answer>"));
    }

    [Theory]
    [InlineData("After all that, the answer is 17.", "17")]
    [InlineData("Final answer: $3\\sqrt{2}$", "3\\sqrt{2}")]
    [InlineData("The answer is 4.5 cm. Let me know.", "4.5 cm")]
    [InlineData("so the answer is (B)\nThanks", "(B)")]
    public void The_answer_is_phrase_is_a_fallback(string response, string expected)
    {
        var answer = AnswerExtraction.Extract(response);
        Assert.Equal(new ExtractedAnswer(expected, AnswerSource.AnswerPhrase), answer);
    }

    [Fact]
    public void Nothing_to_extract()
    {
        Assert.Null(AnswerExtraction.Extract("I am not sure."));
        Assert.Null(AnswerExtraction.Extract(""));
    }

    [Theory]
    [InlineData("B", 'B')]
    [InlineData("(c)", 'C')]
    [InlineData("B. 12 cm", 'B')]
    [InlineData("D: 45", 'D')]
    [InlineData("\\text{A}", 'A')]
    [InlineData("option E", 'E')]
    [InlineData("12", null)]
    [InlineData("Bx", null)]
    [InlineData("AD", null)]
    public void Choice_letters(string answer, char? expected) => Assert.Equal(expected, AnswerExtraction.ChoiceLetter(answer));

    [Fact]
    public void Several_boxes_are_also_offered_joined()
    {
        var response = @"The coordinates of M are \boxed{(-1, -4)}, \boxed{(-1, -16)}, or \boxed{(-1, 0)}.";
        Assert.Equal(["(-1, 0)", "(-1, -4),(-1, -16),(-1, 0)"], AnswerExtraction.FinalAnswerCandidates(response).ToList());
        Assert.Equal(["5"], AnswerExtraction.FinalAnswerCandidates(@"so \boxed{5}").ToList());
    }
}

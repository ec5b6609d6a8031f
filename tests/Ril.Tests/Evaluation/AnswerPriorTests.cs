using System.Text.Json.Nodes;
using Ril.Data;
using Ril.Evaluation;
using Xunit;

namespace Ril.Tests.Evaluation;

public class AnswerPriorTests
{
    static DatasetRow Row(string question, string answer) => new("id", question, answer, null, null, new JsonObject(), "train.jsonl", 1);

    [Fact]
    public void Answers_each_question_with_its_most_common_training_answer_else_the_overall_one()
    {
        var prior = AnswerPrior.Fit([
            Row("How many stars?", "2"), Row("How many stars?", "2"), Row("How many stars?", "3"),
            Row("Which is taller?", "B"), Row("Which is taller?", "A"),   // a tie goes to the ordinally first: A
            Row("How many dots?", "2"), Row("How many dots?", "5"),
        ]);
        Assert.Equal("2", prior.Overall);                 // 3 of 7
        Assert.Equal("2", prior.Answer("How many stars?"));
        Assert.Equal("A", prior.Answer("Which is taller?"));
        Assert.Equal("2", prior.Answer("A question never seen"));

        List<DatasetRow> eval = [Row("How many stars?", "3"), Row("Which is taller?", "A"), Row("Never seen", "2"), Row("Never seen", "7")];
        Assert.Equal(0.5, prior.Accuracy(eval), 12);         // A and the unseen "2"
        Assert.Equal(0.25, prior.OverallAccuracy(eval), 12); // the unseen "2" only
        Assert.Equal(0, prior.Accuracy([]));
    }

    [Fact]
    public void An_empty_training_set_is_an_error()
    {
        var e = Assert.Throws<ArgumentException>(() => AnswerPrior.Fit([]));
        Assert.Contains("at least one training row", e.Message);
    }
}

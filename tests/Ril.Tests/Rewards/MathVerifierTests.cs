using Ril.Rewards;

namespace Ril.Tests.Rewards;

public class MathVerifierTests
{
    static readonly MathVerifier Verifier = new();

    static void Same(string gold, string prediction, VerifierRule? rule = null)
    {
        var result = Verifier.Verify(gold, prediction);
        Assert.True(result.Equivalent, $"expected '{gold}' ≡ '{prediction}' (compared '{result.Gold}' with '{result.Prediction}')");
        if (rule != null) Assert.Equal(rule, result.Rule);
    }

    static void Different(string gold, string prediction)
    {
        var result = Verifier.Verify(gold, prediction);
        Assert.False(result.Equivalent, $"expected '{gold}' ≢ '{prediction}', but rule {result.Rule} matched");
    }

    [Theory]
    [InlineData("11", "11")]
    [InlineData("11", "11.0")]
    [InlineData("11", "11.00001")]
    [InlineData("93.31", "93.31")]
    [InlineData("-8", "- 8")]
    [InlineData("1000", "1,000")]
    [InlineData("1234567", "1,234,567")]
    [InlineData("1000", "1{,}000")]
    [InlineData("1000", "1\\,000")]
    [InlineData("0.5", ".5")]
    public void Integers_decimals_and_thousands_separators(string gold, string prediction) => Same(gold, prediction);

    [Theory]
    [InlineData(@"\frac { 17 } { 2 } \sqrt { 3 }", @"\frac{17\sqrt{3}}{2}")]
    [InlineData(@"\frac { 17 } { 2 } \sqrt { 3 }", "14.7224")]
    [InlineData(@"\frac { 40 } { 3 }", "40/3")]
    [InlineData(@"\frac { 40 } { 3 }", @"\dfrac{40}{3}")]
    [InlineData(@"\frac { 40 } { 3 }", @"\tfrac{40}{3}")]
    [InlineData(@"\frac12", "0.5")]
    [InlineData(@"\frac { 2 } { 1 }", "2")]
    [InlineData(@"4 \frac { 4 } { 11 }", @"\frac{48}{11}")]
    [InlineData(@"\sqrt { 20 }", @"2\sqrt{5}")]
    [InlineData(@"6 \sqrt 2", @"6\sqrt{2}")]
    [InlineData(@"\sqrt[3]{8}", "2")]
    [InlineData(@"\frac { 1 } { \sqrt { 3 } }", @"\frac{\sqrt{3}}{3}")]
    [InlineData(@"4−2\sqrt{3}", @"4-2\sqrt{3}")]
    public void Fractions_and_roots(string gold, string prediction) => Same(gold, prediction);

    [Theory]
    [InlineData(@"10 \pi", @"10\pi")]
    [InlineData(@"10 \pi", "31.4159")]
    [InlineData(@"10 \pi", "10π")]
    [InlineData(@"\frac { \pi } { 4 }", @"0.25\pi")]
    [InlineData(@"4 \sqrt 5 \pi", @"4\pi\sqrt{5}")]
    public void Pi(string gold, string prediction) => Same(gold, prediction);

    [Theory]
    [InlineData("45", @"45^\circ")]
    [InlineData("45", @"45^{\circ}")]
    [InlineData("45", "45°")]
    [InlineData("45", "45 degrees")]
    [InlineData("50%", "0.5")]
    [InlineData("50%", "50")]
    [InlineData("0.5", @"50\%")]
    [InlineData("2", @"2\text{cm}")]
    [InlineData("2", @"2\ \text{cm}")]
    [InlineData("12", "12 cm")]
    [InlineData("36", @"36\text{ cm}^2")]
    [InlineData("36", "36 square units")]
    [InlineData("5", "5 m")]
    [InlineData("not enough information", @"\text{Not enough information}")]
    public void Degrees_percentages_units_and_text_are_stripped(string gold, string prediction) => Same(gold, prediction);

    [Fact]
    public void Degree_marks_inside_a_sine_are_degrees()
    {
        Same("0.5", @"\sin 30^\circ");
        Same(@"\frac{\sqrt{3}}{2}", @"\cos(30°)");
        Different("0.5", @"\sin 30");
    }

    [Theory]
    [InlineData(@"(-3, \frac{25}{4})", @"\left(-3, \frac{25}{4}\right)")]
    [InlineData(@"(-3, \frac{25}{4})", "(-3, 6.25)")]
    [InlineData("(1, 2)", "P(1,2)")]
    [InlineData("(1, 2)", "P = (1, 2)")]
    public void Tuples(string gold, string prediction) => Same(gold, prediction);

    [Fact]
    public void Tuples_are_ordered()
    {
        Different("(1, 2)", "(2, 1)");
        Different("(1, 2)", "(1, 2, 3)");
    }

    [Theory]
    [InlineData("(-1, -4),(-1, -16),(-1, 0)", "(-1,0), (-1,-4), (-1,-16)")]
    [InlineData("(-1, -4),(-1, -16),(-1, 0)", @"\left(-1,-16\right); (-1,-4); (-1, 0)")]
    [InlineData("Q_1(5,1),Q_2(-4,-2)", "(-4,-2), (5,1)")]
    [InlineData("2, 3", "3 and 2")]
    [InlineData("x=2 or x=3", "x = 3, x = 2")]
    [InlineData(@"1 \pm \sqrt{2}", @"1+\sqrt{2}, 1-\sqrt{2}")]
    [InlineData("24,24", "24")]
    public void Unordered_lists(string gold, string prediction) => Same(gold, prediction, VerifierRule.List);

    [Fact]
    public void Lists_must_match_both_ways()
    {
        Different("(-1, -4),(-1, -16),(-1, 0)", "(-1, -4),(-1, -16)");
        Different("(-1, -4),(-1, -16)", "(-1, -4),(-1, -16),(-1, 0)");
        Different("2, 3", "2, 3, 4");
    }

    [Theory]
    [InlineData("x > -2", "x>-2")]
    [InlineData("x > -2", @"(-2, \infty)")]
    [InlineData("x > -2", @"x \in (-2, +\infty)")]
    [InlineData("x > -2", "-2 < x")]
    [InlineData("-3<x<-1", "(-3, -1)")]
    [InlineData("-3<x<-1", "x > -3 and x < -1")]
    [InlineData(@"m\le 0", @"(-\infty, 0]")]
    [InlineData(@"m\le 0", "m ≤ 0")]
    [InlineData(@"m\le 0", @"0 \geq m")]
    [InlineData("x < -1 or x > 3", @"(-\infty,-1)\cup(3,+\infty)")]
    public void Inequalities_and_intervals(string gold, string prediction) => Same(gold, prediction);

    [Fact]
    public void Interval_ends_must_agree()
    {
        Different("x > -2", "x >= -2");
        Different("x > -2", @"[-2, \infty)");
        Different("x > -2", "x < -2");
        Different("-3<x<-1", "(-3, -1]");
        Different("x > -2", "-2");
    }

    [Theory]
    [InlineData("m + n - 180", "n + m - 180")]
    [InlineData("m + n - 180", "-(180 - m - n)")]
    [InlineData("20 y^2 - 10 y", "10y(2y-1)")]
    [InlineData("-2x+3", "y = 3 - 2x")]
    [InlineData(@"\frac{5}{{2}^{n-3}}", @"40 \cdot 2^{-n}")]
    [InlineData(@"\frac{\sqrt{5}}{3}PM", @"\frac{PM\sqrt{5}}{3}")]
    [InlineData(@"\frac{1}{8}t^{2}-\frac{1}{4}t", @"\frac{t(t-2)}{8}")]
    [InlineData("x(x+1)", "x^2+x")]
    public void Expressions_compare_at_random_points(string gold, string prediction) => Same(gold, prediction, VerifierRule.Expression);

    [Fact]
    public void Different_expressions_differ()
    {
        Different("m + n - 180", "m - n + 180");
        Different("20 y^2 - 10 y", "10y(2y+1)");
        Different("x^2", "2x");
        Different("x", "5");
    }

    [Fact]
    public void Equations_compare_up_to_a_scale()
    {
        Same("a + b = 90", "b = 90 - a", VerifierRule.Equation);
        Same("a + b = 90", "2a + 2b = 180", VerifierRule.Equation);
        Same("x = 5", "5");
        Same("5", "AD = 5");
        Same("5", @"AD = \frac{1}{2}BC = 5");
        Different("a + b = 90", "a - b = 90");
        Different("x = 5", "y = 5");
    }

    [Theory]
    [InlineData("5:9", "5:9")]
    [InlineData("5:9", "10:18")]
    [InlineData("2:1", "2")]
    [InlineData(@"\frac { \sqrt 3 } { 4 } : 1", @"\sqrt{3}:4")]
    [InlineData("1:2:3", "2:4:6")]
    public void Ratios(string gold, string prediction) => Same(gold, prediction);

    [Fact]
    public void Ratios_are_ordered()
    {
        Different("5:9", "9:5");
        Different("1:2:3", "1:2:4");
    }

    [Theory]
    [InlineData("A D and B E", "AD and BE")]
    [InlineData("A D and B E", "BE and AD")]
    [InlineData(@"\angle 2 and \angle 6", @"\angle 6 and \angle 2")]
    [InlineData(@"\angle 1 \cong \angle 4", @"\angle1\cong\angle4")]
    [InlineData("angles 2,3, 6, and 7", "angles 2, 3, 6, and 7")]
    public void Words_and_names(string gold, string prediction) => Same(gold, prediction);

    [Fact]
    public void Numeric_tolerance_is_relative_and_configurable()
    {
        Same("93.31", "93.3105");
        Different("93.31", "93.32");
        Different("11.8", "11.79");
        var loose = new MathVerifier(new MathVerifierOptions { RelativeTolerance = 1e-2 });
        Assert.True(loose.Equivalent("11.8", "11.79"));
        var strict = new MathVerifier(new MathVerifierOptions { RelativeTolerance = 1e-9 });
        Assert.False(strict.Equivalent("11", "11.00001"));
    }

    [Fact]
    public void Argument_order_matters()
    {
        // The gold answer is a choice letter: a prediction that names the choice matches, not the other way round.
        Assert.True(Verifier.Equivalent("B", "(B) 12 cm"));
        Assert.False(Verifier.Equivalent("(B) 12 cm", "B"));
        // The prediction may be a whole response; the gold answer is taken as written.
        Assert.True(Verifier.Equivalent("12", @"Adding the sides gives \boxed{12}."));
        Assert.False(Verifier.Equivalent(@"Adding the sides gives 12.", "12"));
        // The tolerance scales with the gold value.
        var tolerant = new MathVerifier(new MathVerifierOptions { RelativeTolerance = 0.5, AbsoluteTolerance = 0 });
        Assert.True(tolerant.Equivalent("10", "14"));    // |14 − 10| ≤ 0.5·10
        Assert.False(tolerant.Equivalent("4", "10"));    // |10 − 4| > 0.5·4
        Assert.True(tolerant.Equivalent("10", "5"));     // |5 − 10| ≤ 0.5·10
        Assert.False(tolerant.Equivalent("5", "10"));    // |10 − 5| > 0.5·5
    }

    [Fact]
    public void Garbage_and_empty_predictions_are_not_equivalent()
    {
        Different("5", "");
        Different("5", "}}}{{{");
        Different("5", new string('(', 5000) + "5" + new string(')', 5000));
        Different("5", @"\frac{");
        Different("", "");
        Different("5", "five");
    }

    [Fact]
    public void Perturbed_numbers_differ()
    {
        Different(@"\frac { 17 } { 2 } \sqrt { 3 }", @"\frac { 27 } { 2 } \sqrt { 3 }");
        Different(@"\frac { 17 } { 2 } \sqrt { 3 }", @"\frac { 17 } { 2 } \sqrt { 2 }");
        Different("(-1, -4),(-1, -16),(-1, 0)", "(-1, -4),(-1, -16),(-1, 1)");
        Different("x > -2", "x > -3");
        Different(@"10 \pi", "10");
        Different("45", "46");
    }
}

using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>
/// A tokenizer.json whose pre-tokenizer pattern backtracks catastrophically: before this test "(a+)+$" hung on a short
/// line. Now such a pattern runs on .NET's linear-time engine, and one that needs backtracking (a lookaround) fails
/// with a message naming it after a bounded time.
/// </summary>
public class HostilePatternTests
{
    static readonly string Line = new string('a', 40) + "!";

    [Fact]
    public async Task A_nested_quantifier_runs_in_linear_time()
    {
        var matches = new List<(int, int)>();
        // Backtracking took exponential time here (2^40 ways to split the a's): it must finish, not hang the suite.
        var match = Task.Run(() => new CodePointRegex("(a+)+$").Matches(Line, matches));
        Assert.Same(match, await Task.WhenAny(match, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.Empty(matches);
        new CodePointRegex("(a+)+").Matches(Line, matches);
        Assert.Equal([(0, 40)], matches);
    }

    [Fact]
    public void A_backtracking_pattern_with_a_lookaround_fails_naming_itself()
    {
        var e = Assert.Throws<InvalidDataException>(() => new CodePointRegex("(a+)+(?=b)").Matches(Line, new List<(int, int)>()));
        Assert.Contains("(a+)+(?=b)", e.Message);
        Assert.Contains("catastrophic", e.Message);
    }
}

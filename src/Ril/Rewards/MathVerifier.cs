using System.Text;
using System.Text.RegularExpressions;

namespace Ril.Rewards;

/// <summary>Which rule decided a comparison (logged, so a surprising reward can be traced to its rule).</summary>
public enum VerifierRule
{
    /// <summary>No rule found the answers equivalent.</summary>
    None,
    /// <summary>The same text once LaTeX spacing, units, degree marks and delimiters are normalised away.</summary>
    Identical,
    /// <summary>The gold answer is a choice letter and the prediction names that choice ("(B)", "B. 12").</summary>
    Choice,
    /// <summary>Equal values within the tolerance.</summary>
    Numeric,
    /// <summary>Equal once a percent sign is read as "÷100" on one side and ignored on the other ("50%" = "0.5" = "50").</summary>
    Percentage,
    /// <summary>Expressions with variables equal at random points.</summary>
    Expression,
    /// <summary>Equations whose (left − right) sides are proportional at random points ("a+b=90" = "b=90-a").</summary>
    Equation,
    /// <summary>The same union of intervals, written as inequalities or in interval notation.</summary>
    Interval,
    /// <summary>Ordered tuples (points), element by element.</summary>
    Tuple,
    /// <summary>Unordered lists (several points, several roots): every item matched both ways.</summary>
    List,
    /// <summary>Proportional ratios ("2:4" = "1:2"), or a two-part ratio against its quotient.</summary>
    Ratio,
    /// <summary>The same words, ignoring case, spacing and LaTeX text wrappers.</summary>
    Text,
}

/// <summary>The verdict, the rule that gave it, and both answers as they were compared (after extraction and normalisation).</summary>
public sealed record VerifierResult(bool Equivalent, VerifierRule Rule, string Gold, string Prediction);

/// <summary>Tolerances and sampling of the math verifier.</summary>
public sealed record MathVerifierOptions
{
    /// <summary>Numbers are equal when |prediction − gold| ≤ RelativeTolerance·|gold| + AbsoluteTolerance.</summary>
    public double RelativeTolerance { get; init; } = 1e-4;
    public double AbsoluteTolerance { get; init; } = 1e-8;
    /// <summary>Random points at which expressions with variables are compared.</summary>
    public int RandomPoints { get; init; } = 8;
}

/// <summary>
/// Decides whether a predicted final answer is mathematically equivalent to the gold answer. Argument
/// order matters: the gold answer is taken as written, the prediction may be a whole response (its final
/// answer is extracted), a choice letter in the gold accepts a prediction that names that choice, and the
/// tolerance is relative to the gold value. (MAYE's judge passed its arguments the other way round; see
/// docs/spec/MAYE.md "known defects".)
/// </summary>
public sealed class MathVerifier(MathVerifierOptions? options = null)
{
    public MathVerifierOptions Options { get; } = options ?? new MathVerifierOptions();

    public bool Equivalent(string gold, string prediction) => Verify(gold, prediction).Equivalent;

    public VerifierResult Verify(string gold, string prediction)
    {
        gold = FinalAnswerOf(gold);
        prediction = FinalAnswerOf(prediction);
        if (GoldChoice(gold) is { } letter && AnswerExtraction.ChoiceLetter(prediction) == letter)
            return new(true, VerifierRule.Choice, gold, prediction);

        var g = Normalize(gold);
        var p = Normalize(prediction);
        if (g.Length == 0 || p.Length == 0) return new(false, VerifierRule.None, g, p);
        var rule = Squash(g) == Squash(p) ? VerifierRule.Identical : CompareAnswers(g, p);
        if (rule == VerifierRule.None && SquashText(g) == SquashText(p)) rule = VerifierRule.Text;
        return new(rule != VerifierRule.None, rule, g, p);
    }

    /// <summary>A whole response (or a solution) reduces to its final answer; a bare answer stays as it is.</summary>
    static string FinalAnswerOf(string text) =>
        text.Contains("\\boxed", StringComparison.Ordinal) || text.Contains("\\fbox", StringComparison.Ordinal) ||
        text.Contains("<answer>", StringComparison.OrdinalIgnoreCase)
            ? AnswerExtraction.Extract(text)?.Text ?? text
            : text.Trim();

    static char? GoldChoice(string gold)
    {
        var s = gold.Trim().Trim('(', ')').Trim();
        return s.Length == 1 && s[0] is >= 'A' and <= 'H' ? s[0] : null;
    }

    // ---------------------------------------------------------------- normalisation

    static readonly (string From, string To)[] Replacements =
    [
        ("−", "-"), ("–", "-"), ("—", "-"), ("×", "\\times "), ("·", "\\cdot "), ("÷", "\\div "), ("√", "\\sqrt "),
        ("π", "\\pi "), ("°", "^\\circ "), ("≤", "\\le "), ("≥", "\\ge "), ("∞", "\\infty "), ("∪", "\\cup "),
        ("，", ","), ("（", "("), ("）", ")"), ("：", ":"), ("；", ";"), ("²", "^2"), ("³", "^3"), ("∠", "\\angle "),
        ("\u00a0", " "), ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"),
        ("\\leqslant", "\\le "), ("\\geqslant", "\\ge "), ("\\leq", "\\le "), ("\\geq", "\\ge "), ("<=", "\\le "), (">=", "\\ge "),
        ("\\lt", "<"), ("\\gt", ">"), ("\\colon", ":"), ("\\approx", "="), ("\\%", "%"), ("{,}", ""),
        ("\\{", "("), ("\\}", ")"), ("\\lbrace", "("), ("\\rbrace", ")"), ("\\vert", "|"), ("\\lvert", "|"), ("\\rvert", "|"),
        ("\\displaystyle", ""),
    ];

    static readonly Regex SpacingCommand = new(@"\\(?:[,;:! ]|quad|qquad|thinspace|medspace|thickspace)|~", RegexOptions.CultureInvariant);
    static readonly Regex SizedDelimiter = new(@"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![A-Za-z])\s*\.?", RegexOptions.CultureInvariant);
    static readonly Regex ThinSpaceThousands = new(@"(\d)\\,(?=\d{3}(?!\d))", RegexOptions.CultureInvariant);
    static readonly Regex Thousands = new(@"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$", RegexOptions.CultureInvariant);
    static readonly Regex DegreeMark = new(@"\^\s*\{?\s*\\circ\s*\}?|\\degree", RegexOptions.CultureInvariant);
    static readonly Regex TrigFunction = new(@"\\?(?:sin|cos|tan|cot|sec|csc)(?![a-z])", RegexOptions.CultureInvariant);
    static readonly Regex MembershipPrefix = new(@"^[A-Za-z](?:_\{?\w+\}?)?\s*\\in\s*", RegexOptions.CultureInvariant);

    /// <summary>Units a final answer may carry; stripped so "2\text{ cm}" equals "2".</summary>
    const string UnitWords =
        "cm|mm|km|m|dm|in|inch|inches|ft|feet|foot|yd|yard|yards|mi|mile|miles|meter|meters|metre|metres|centimeter|centimeters|" +
        "kilometer|kilometers|millimeter|millimeters|unit|units|sq\\.?\\s*units?|square\\s+units?|square\\s+(?:cm|m|ft|in|meters?|feet|inches)|" +
        "degree|degrees|deg|radians?|kg|seconds?|minutes?|hours?|ml|cm\\^?3|m\\^?3";

    static readonly Regex TextUnit = new($@"^\s*(?:{UnitWords})\s*(?:\^\s*\{{?\s*[23]\s*\}}?)?\s*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);
    static readonly Regex TrailingUnit = new(
        $@"(?<=[\d\}})]|\\pi)\s*(?:(?:{UnitWords.Replace("|m|", "|")})|(?<=\s)m)(?:\s*\^\s*\{{?\s*[23]\s*\}}?)?\s*$",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    /// <summary>
    /// Canonical LaTeX for comparison: delimiters, <c>\left/\right</c>, spacing commands, font and text
    /// wrappers, units, degree marks and trailing punctuation removed; Unicode math symbols spelled as LaTeX.
    /// </summary>
    public static string Normalize(string answer)
    {
        var s = answer.Trim();
        s = ThinSpaceThousands.Replace(s, "$1");
        foreach (var (from, to) in Replacements) s = s.Replace(from, to, StringComparison.Ordinal);
        s = s.Replace("$", "", StringComparison.Ordinal);
        s = SizedDelimiter.Replace(s, "");
        s = SpacingCommand.Replace(s, " ");
        s = UnwrapCommands(s);
        // A degree mark is noise on an answer ("45^\\circ" is 45) but meaningful inside a sine: keep it there for the parser.
        if (!TrigFunction.IsMatch(s)) s = DegreeMark.Replace(s, "");
        s = Regex.Replace(s, @"\bpercent\b", "%", RegexOptions.CultureInvariant);
        s = Regex.Replace(s, @"\s+", " ").Trim();
        s = s.TrimEnd('.', ',', ';', ' ').TrimStart('=', ' ');
        s = MembershipPrefix.Replace(s, "");
        for (int guard = 0; guard < 3; guard++)
        {
            var stripped = TrailingUnit.Replace(s, "").TrimEnd();
            if (stripped.Length == 0 || stripped == s) break;
            s = stripped;
        }
        if (Thousands.IsMatch(s)) s = s.Replace(",", "", StringComparison.Ordinal);
        return s;
    }

    static readonly string[] FontWrappers = ["mathrm", "mathbf", "textbf", "mathit", "textit", "boldsymbol", "operatorname", "mathsf", "mathbb", "textup", "emph"];
    static readonly string[] TextWrappers = ["text", "mbox", "textrm", "textnormal", "hbox"];

    /// <summary>Removes <c>\text{cm}</c>-style units and unwraps other text and font commands to their content.</summary>
    static string UnwrapCommands(string s)
    {
        var sb = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            if (s[i] == '\\' && TryWrapper(s, i, out var name, out int open))
            {
                int close = AnswerExtraction.MatchingBrace(s, open);
                if (close > open)
                {
                    var content = UnwrapCommands(s[(open + 1)..close]);
                    int next = close + 1;
                    if (TextWrappers.Contains(name) && TextUnit.IsMatch(content))
                    {
                        // A unit: drop it with any power that follows ("\text{cm}^2").
                        var power = Regex.Match(s[next..], @"^\s*\^\s*(?:\{\s*[23]\s*\}|[23])");
                        if (power.Success) next += power.Length;
                        sb.Append(' ');
                    }
                    else sb.Append(TextWrappers.Contains(name) ? $" {content} " : content);
                    i = next;
                    continue;
                }
            }
            sb.Append(s[i]);
            i++;
        }
        return sb.ToString();
    }

    static bool TryWrapper(string s, int at, out string name, out int open)
    {
        int j = at + 1;
        while (j < s.Length && char.IsAsciiLetter(s[j])) j++;
        name = s[(at + 1)..j];
        open = j;
        while (open < s.Length && s[open] == ' ') open++;
        return (FontWrappers.Contains(name) || TextWrappers.Contains(name)) && open < s.Length && s[open] == '{';
    }

    static string Squash(string s) => Regex.Replace(s, @"\s+", "");

    static string SquashText(string s) => Regex.Replace(s, @"[\s{}]+", "").ToLowerInvariant();

    // ---------------------------------------------------------------- structure: intervals, lists, items

    VerifierRule CompareAnswers(string gold, string prediction)
    {
        if (IsIntervalLike(gold) || IsIntervalLike(prediction))
        {
            var g = ParseIntervals(gold);
            var p = ParseIntervals(prediction);
            if (g != null && p != null) return SameIntervals(g, p) ? VerifierRule.Interval : VerifierRule.None;
            // An inequality that is not an interval ("\angle 1 < \angle 2") is compared as text below.
        }
        var goldItems = SplitList(gold);
        var predictedItems = SplitList(prediction);
        if (goldItems.Count == 1 && predictedItems.Count == 1) return CompareItem(goldItems[0], predictedItems[0]);
        // Unordered lists compare as sets: every gold item is predicted and every predicted item is gold.
        bool all = goldItems.All(g => predictedItems.Any(p => CompareItem(g, p) != VerifierRule.None)) &&
                   predictedItems.All(p => goldItems.Any(g => CompareItem(g, p) != VerifierRule.None));
        return all ? VerifierRule.List : VerifierRule.None;
    }

    /// <summary>Splits at top-level commas, semicolons, "and" and "or"; expands ± into two items.</summary>
    static List<string> SplitList(string s)
    {
        var items = new List<string>();
        foreach (var part in SplitTopLevel(s, [",", ";", " and ", " or ", "\\text{or}"]))
        {
            var item = Regex.Replace(part, @"^(?:and|or)\s+", "").Trim();
            if (item.Length == 0) continue;
            int pm = item.IndexOf("\\pm", StringComparison.Ordinal);
            if (pm >= 0 && item.IndexOf("\\pm", pm + 3, StringComparison.Ordinal) < 0)
            {
                items.Add(item.Remove(pm, 3).Insert(pm, "+"));
                items.Add(item.Remove(pm, 3).Insert(pm, "-"));
            }
            else items.Add(item);
        }
        return items.Count == 0 ? [s] : items;
    }

    /// <summary>Splits at separators outside (), [], {} and |…| (brackets of any kind close any kind: "(1, 2]" is one piece).</summary>
    static List<string> SplitTopLevel(string s, string[] separators)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\\' && i + 1 < s.Length && !char.IsAsciiLetter(s[i + 1])) { i++; continue; }
            if (c is '(' or '[' or '{') depth++;
            else if (c is ')' or ']' or '}') depth = Math.Max(0, depth - 1);
            else if (depth == 0)
                foreach (var sep in separators)
                    if (string.CompareOrdinal(s, i, sep, 0, sep.Length) == 0)
                    {
                        parts.Add(s[start..i].Trim());
                        start = i + sep.Length;
                        i = start - 1;
                        break;
                    }
        }
        parts.Add(s[start..].Trim());
        return parts;
    }

    static readonly Regex PointLabel = new(@"^[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?'*\s*=?\s*(?=[\(\[])", RegexOptions.CultureInvariant);
    static readonly Regex MixedNumber = new(@"^(-?)\s*(\d+)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}$", RegexOptions.CultureInvariant);

    VerifierRule CompareItem(string gold, string prediction)
    {
        if (Squash(gold) == Squash(prediction)) return VerifierRule.Identical;
        gold = Canonical(gold);
        prediction = Canonical(prediction);
        if (Squash(gold) == Squash(prediction)) return VerifierRule.Identical;

        var goldSides = SplitTopLevel(gold, ["="]);
        var predictedSides = SplitTopLevel(prediction, ["="]);
        if (goldSides.Count == 2 && predictedSides.Count == 2)
        {
            if (IsName(goldSides[0]) && Squash(goldSides[0]) == Squash(predictedSides[0]))
                return CompareItem(goldSides[1], predictedSides[1]);
            return EquationsEqual(goldSides, predictedSides) ? VerifierRule.Equation : VerifierRule.None;
        }
        // "x = 5" against "5": a named value is its value; a chain "AD = ½BC = 5" ends in its value.
        if (goldSides.Count >= 2 && (predictedSides.Count == 1 || goldSides.Count > 2) && (IsName(goldSides[0]) || goldSides.Count > 2))
            return CompareItem(goldSides[^1], prediction);
        if (predictedSides.Count >= 2 && (goldSides.Count == 1 || predictedSides.Count > 2) && (IsName(predictedSides[0]) || predictedSides.Count > 2))
            return CompareItem(gold, predictedSides[^1]);
        if (goldSides.Count != predictedSides.Count) return VerifierRule.None;

        if (TupleElements(gold) is { } goldTuple && TupleElements(prediction) is { } predictedTuple)
        {
            if (goldTuple.Open != predictedTuple.Open || goldTuple.Close != predictedTuple.Close || goldTuple.Items.Count != predictedTuple.Items.Count)
                return VerifierRule.None;
            for (int i = 0; i < goldTuple.Items.Count; i++)
                if (CompareItem(goldTuple.Items[i], predictedTuple.Items[i]) == VerifierRule.None) return VerifierRule.None;
            return VerifierRule.Tuple;
        }

        var goldRatio = SplitTopLevel(gold, [":"]);
        var predictedRatio = SplitTopLevel(prediction, [":"]);
        if (goldRatio.Count > 1 || predictedRatio.Count > 1)
            return RatiosEqual(goldRatio, predictedRatio) ? VerifierRule.Ratio : VerifierRule.None;

        return CompareScalars(gold, prediction);
    }

    /// <summary>Drops a point's label ("Q_1(5,1)" → "(5,1)") and reads a mixed number ("4\frac{4}{11}" → 4 + 4/11).</summary>
    static string Canonical(string item)
    {
        item = item.Trim();
        // Only before a tuple: "x(x+1)" is a product, not a point named x.
        var unlabelled = PointLabel.Replace(item, "");
        if (unlabelled != item && TupleElements(unlabelled) != null) item = unlabelled;
        var mixed = MixedNumber.Match(item);
        if (mixed.Success && long.TryParse(mixed.Groups[3].Value, out var numerator) && long.TryParse(mixed.Groups[4].Value, out var denominator) && numerator < denominator)
            item = $"{mixed.Groups[1].Value}({mixed.Groups[2].Value}+{numerator}/{denominator})";
        return item;
    }

    /// <summary>A left-hand side that names a quantity ("x", "AD", "m\angle ABC", "S_{ABC}") rather than computes one.</summary>
    static bool IsName(string side)
    {
        var s = Squash(side);
        return s.Length > 0 && !Regex.IsMatch(s, @"[+\-*/^()]|\\frac|\\sqrt") && !Regex.IsMatch(s, @"^[\d.]+$");
    }

    sealed record Tuple(char Open, char Close, List<string> Items);

    /// <summary>The elements of "(a, b, …)" or "[a, b]" when the outer brackets enclose the whole item and hold a comma.</summary>
    static Tuple? TupleElements(string s)
    {
        s = s.Trim();
        if (s.Length < 2 || s[0] is not ('(' or '[') || s[^1] is not (')' or ']')) return null;
        int depth = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] is '(' or '[' or '{') depth++;
            else if (s[i] is ')' or ']' or '}') depth--;
            if (depth == 0 && i < s.Length - 1) return null;  // the first bracket closes early: "(1)(2)"
        }
        var items = SplitTopLevel(s[1..^1], [","]);
        return items.Count < 2 ? null : new(s[0], s[^1], items);
    }

    bool RatiosEqual(List<string> gold, List<string> prediction)
    {
        var g = gold.Select(Constant).ToList();
        var p = prediction.Select(Constant).ToList();
        if (g.Any(v => v == null) || p.Any(v => v == null)) return false;
        if (g.Count == p.Count)
        {
            // a:b:c = d:e:f when each part is the same multiple: g_i·p_0 = p_i·g_0.
            for (int i = 1; i < g.Count; i++)
                if (!Close(g[i]!.Value * p[0]!.Value, p[i]!.Value * g[0]!.Value)) return false;
            return true;
        }
        // "2:1" against "2": a two-part ratio is its quotient.
        if (g.Count == 2 && p.Count == 1) return Close(g[0]!.Value / g[1]!.Value, p[0]!.Value);
        if (g.Count == 1 && p.Count == 2) return Close(g[0]!.Value, p[0]!.Value / p[1]!.Value);
        return false;
    }

    static double? Constant(string s)
    {
        var e = LatexExpression.TryParse(Canonical(s));
        if (e == null || e.Variables.Count > 0) return null;
        double v = e.Evaluate();
        return double.IsNaN(v) ? null : v;
    }

    // ---------------------------------------------------------------- intervals and inequalities

    readonly record struct Interval(double Low, bool LowClosed, double High, bool HighClosed);

    static readonly Regex Comparison = new(@"\\le(?![a-z])|\\ge(?![a-z])|<|>", RegexOptions.CultureInvariant);

    static bool IsIntervalLike(string s) =>
        Comparison.IsMatch(s) || s.Contains("\\infty", StringComparison.Ordinal) || s.Contains("\\cup", StringComparison.Ordinal) ||
        Regex.IsMatch(s, @"^\s*(?:\([^()\[\]]*\]|\[[^()\[\]]*\))\s*$");

    /// <summary>A union of intervals from inequalities ("x > -2", "-3 &lt; x &lt; -1", "m \le 0") or interval notation; null when neither.</summary>
    static List<Interval>? ParseIntervals(string s)
    {
        var result = new List<Interval>();
        foreach (var piece in SplitTopLevel(s, ["\\cup", " or ", "\\text{or}", ";", ","]))
        {
            if (piece.Length == 0) continue;
            var interval = ParseInterval(piece);
            if (interval == null)
            {
                // Interval notation holds a comma, which the split above cut: try re-joining with the next piece.
                return ParseIntervalsKeepingCommas(s);
            }
            result.Add(interval.Value);
        }
        return result.Count == 0 ? null : result;
    }

    static List<Interval>? ParseIntervalsKeepingCommas(string s)
    {
        var result = new List<Interval>();
        foreach (var piece in SplitTopLevel(s, ["\\cup", " or ", "\\text{or}", ";"]))
        {
            var interval = ParseInterval(piece);
            if (interval == null) return null;
            result.Add(interval.Value);
        }
        return result.Count == 0 ? null : result;
    }

    /// <summary>One interval: an inequality, interval notation, or several joined by "and" ("x > -3 and x &lt; -1").</summary>
    static Interval? ParseInterval(string piece)
    {
        Interval? result = null;
        foreach (var part in SplitTopLevel(piece, [" and ", "\\land", "\\wedge"]))
        {
            var next = ParseInequality(part) ?? ParseIntervalNotation(part);
            if (next is not { } n) return null;
            if (result is not { } r) { result = n; continue; }
            // The intersection: the larger low end and the smaller high end (closed only if closed in both where they tie).
            var (low, lowClosed) = r.Low > n.Low ? (r.Low, r.LowClosed) : n.Low > r.Low ? (n.Low, n.LowClosed) : (r.Low, r.LowClosed && n.LowClosed);
            var (high, highClosed) = r.High < n.High ? (r.High, r.HighClosed) : n.High < r.High ? (n.High, n.HighClosed) : (r.High, r.HighClosed && n.HighClosed);
            if (low > high) return null;
            result = new Interval(low, lowClosed, high, highClosed);
        }
        return result;
    }

    static Interval? ParseIntervalNotation(string s)
    {
        s = s.Trim();
        if (s.Length < 5 || s[0] is not ('(' or '[') || s[^1] is not (')' or ']')) return null;
        var ends = SplitTopLevel(s[1..^1], [","]);
        if (ends.Count != 2) return null;
        double? low = Constant(ends[0]), high = Constant(ends[1]);
        if (low == null || high == null || low > high) return null;
        return new(low.Value, s[0] == '[' && !double.IsInfinity(low.Value), high.Value, s[^1] == ']' && !double.IsInfinity(high.Value));
    }

    static Interval? ParseInequality(string s)
    {
        var operators = Comparison.Matches(s);
        if (operators.Count is 0 or > 2) return null;
        var parts = new List<string>();
        int start = 0;
        foreach (Match m in operators) { parts.Add(s[start..m.Index].Trim()); start = m.Index + m.Length; }
        parts.Add(s[start..].Trim());
        // Which part is the variable: the one that does not evaluate to a number.
        int variable = -1;
        var values = new double?[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            values[i] = Constant(parts[i]);
            if (values[i] == null)
            {
                if (variable >= 0 || !IsName(parts[i])) return null;
                variable = i;
            }
        }
        if (variable < 0) return null;
        double low = double.NegativeInfinity, high = double.PositiveInfinity;
        bool lowClosed = false, highClosed = false;
        for (int k = 0; k < operators.Count; k++)
        {
            var op = operators[k].Value;
            bool less = op is "<" or "\\le", closed = op is "\\le" or "\\ge";
            // Operator k sits between parts k and k+1; read it as a bound on the variable.
            if (k + 1 == variable)
            {
                // value op variable: "a < x" bounds x from below when op is "<".
                if (less) { low = values[k]!.Value; lowClosed = closed; } else { high = values[k]!.Value; highClosed = closed; }
            }
            else if (k == variable)
            {
                // variable op value: "x < b" bounds x from above when op is "<".
                if (less) { high = values[k + 1]!.Value; highClosed = closed; } else { low = values[k + 1]!.Value; lowClosed = closed; }
            }
            else return null;
        }
        return low > high ? null : new Interval(low, lowClosed, high, highClosed);
    }

    bool SameIntervals(List<Interval> gold, List<Interval> prediction)
    {
        if (gold.Count != prediction.Count) return false;
        var g = gold.OrderBy(i => i.Low).ThenBy(i => i.High).ToList();
        var p = prediction.OrderBy(i => i.Low).ThenBy(i => i.High).ToList();
        for (int i = 0; i < g.Count; i++)
            if (!Close(g[i].Low, p[i].Low) || !Close(g[i].High, p[i].High) ||
                g[i].LowClosed != p[i].LowClosed || g[i].HighClosed != p[i].HighClosed) return false;
        return true;
    }

    // ---------------------------------------------------------------- values and expressions

    VerifierRule CompareScalars(string gold, string prediction)
    {
        var g = LatexExpression.TryParse(gold);
        var p = LatexExpression.TryParse(prediction);
        if (g == null || p == null) return VerifierRule.None;
        if (g.Variables.Count == 0 && p.Variables.Count == 0)
        {
            if (Close(g.Evaluate(), p.Evaluate())) return VerifierRule.Numeric;
            // A percent sign may be meant or dropped on either side: "50%" = "0.5" = "50".
            foreach (bool goldFraction in g.HasPercent ? new[] { true, false } : [true])
                foreach (bool predictedFraction in p.HasPercent ? new[] { true, false } : [true])
                    if (Close(g.Evaluate(null, goldFraction), p.Evaluate(null, predictedFraction))) return VerifierRule.Percentage;
            return VerifierRule.None;
        }
        return SameAtRandomPoints(g, p, ratio: false) ? VerifierRule.Expression : VerifierRule.None;
    }

    bool EquationsEqual(List<string> gold, List<string> prediction)
    {
        var g = LatexExpression.TryParse($"({gold[0]})-({gold[1]})");
        var p = LatexExpression.TryParse($"({prediction[0]})-({prediction[1]})");
        return g != null && p != null && SameAtRandomPoints(g, p, ratio: true);
    }

    /// <summary>
    /// Equal values at random points (variables drawn from [0.5, 3], the same draw for both sides), or with
    /// <paramref name="ratio"/> a constant non-zero ratio (equations may be scaled). Points where either side
    /// is undefined on both sides are skipped; undefined on one side only is a difference.
    /// </summary>
    bool SameAtRandomPoints(LatexExpression gold, LatexExpression prediction, bool ratio)
    {
        var names = gold.Variables.Union(prediction.Variables).Order(StringComparer.Ordinal).ToList();
        var random = new Random(20250402);
        double? scale = null;
        int compared = 0;
        for (int k = 0; k < Options.RandomPoints; k++)
        {
            var point = names.ToDictionary(n => n, _ => 0.5 + 2.5 * random.NextDouble());
            double g = gold.Evaluate(point), p = prediction.Evaluate(point);
            bool gOk = double.IsFinite(g), pOk = double.IsFinite(p);
            if (!gOk && !pOk) continue;
            if (gOk != pOk) return false;
            compared++;
            if (!ratio) { if (!Close(g, p)) return false; continue; }
            if (Math.Abs(g) < 1e-12 && Math.Abs(p) < 1e-12) continue;
            if (Math.Abs(p) < 1e-12 || Math.Abs(g) < 1e-12) return false;
            scale ??= g / p;
            if (!Close(g, scale.Value * p)) return false;
        }
        return compared >= Math.Min(3, Options.RandomPoints);
    }

    /// <summary>|prediction − gold| ≤ rel·|gold| + abs: the tolerance scales with the gold value, not the prediction.</summary>
    bool Close(double gold, double prediction)
    {
        if (double.IsNaN(gold) || double.IsNaN(prediction)) return false;
        if (double.IsInfinity(gold) || double.IsInfinity(prediction)) return gold == prediction;
        return Math.Abs(prediction - gold) <= Options.RelativeTolerance * Math.Abs(gold) + Options.AbsoluteTolerance;
    }
}

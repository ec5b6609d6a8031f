using System.Globalization;

namespace Ril.Rewards;

/// <summary>
/// A math expression read from the LaTeX a final answer is written in: numbers, variables (single letters
/// with subscripts and primes; Greek letters), π, ∞, + − × ÷ and implicit products, powers, roots,
/// fractions, |·|, !, trigonometric and logarithmic functions, and the degree and percent marks. It is
/// evaluated, never simplified: two answers are compared by value, or at random points when they have
/// variables (cheaper and more forgiving than a computer-algebra system, and enough for final answers).
/// </summary>
internal sealed class LatexExpression
{
    enum Kind { Number, Variable, Add, Subtract, Multiply, Divide, Power, Negate, Function, Degrees, Percent, Root, Abs, Factorial }

    readonly Kind _kind;
    readonly double _value;
    readonly string _name = "";
    readonly LatexExpression[] _args;

    LatexExpression(Kind kind, double value = 0, string name = "", params LatexExpression[] args)
    {
        _kind = kind; _value = value; _name = name; _args = args;
    }

    /// <summary>The variables the expression mentions, by name ("x", "Q_1", "\alpha").</summary>
    public IReadOnlySet<string> Variables
    {
        get
        {
            var names = new SortedSet<string>(StringComparer.Ordinal);
            Collect(this, names);
            return names;
            static void Collect(LatexExpression e, ISet<string> into)
            {
                if (e._kind == Kind.Variable) into.Add(e._name);
                foreach (var a in e._args) Collect(a, into);
            }
        }
    }

    /// <summary>Whether a percent sign appears (the value may then be read as x or as x/100).</summary>
    public bool HasPercent => _kind == Kind.Percent || _args.Any(a => a.HasPercent);

    /// <summary>
    /// The value with <paramref name="variables"/> assigned. A percent sign divides by 100 when
    /// <paramref name="percentAsFraction"/>; a degree mark converts to radians only inside a
    /// trigonometric function (elsewhere "45°" is the number 45, as answers are written).
    /// </summary>
    public double Evaluate(IReadOnlyDictionary<string, double>? variables = null, bool percentAsFraction = true)
    {
        double Arg(int i) => _args[i].Evaluate(variables, percentAsFraction);
        switch (_kind)
        {
            case Kind.Number: return _value;
            case Kind.Variable:
                return variables != null && variables.TryGetValue(_name, out var v) ? v : double.NaN;
            case Kind.Add: return Arg(0) + Arg(1);
            case Kind.Subtract: return Arg(0) - Arg(1);
            case Kind.Multiply: return Arg(0) * Arg(1);
            case Kind.Divide: return Arg(0) / Arg(1);
            case Kind.Power: return Math.Pow(Arg(0), Arg(1));
            case Kind.Negate: return -Arg(0);
            case Kind.Degrees: return Arg(0);
            case Kind.Percent: return percentAsFraction ? Arg(0) / 100 : Arg(0);
            case Kind.Abs: return Math.Abs(Arg(0));
            case Kind.Root:
            {
                double radicand = Arg(0), index = Arg(1);
                if (index == 2) return Math.Sqrt(radicand);
                // An odd root of a negative number is real (∛−8 = −2).
                if (radicand < 0 && Math.Abs(index % 2) == 1) return -Math.Pow(-radicand, 1 / index);
                return Math.Pow(radicand, 1 / index);
            }
            case Kind.Factorial:
            {
                double n = Arg(0);
                if (n < 0 || n > 170 || n != Math.Floor(n)) return double.NaN;
                double f = 1;
                for (int i = 2; i <= n; i++) f *= i;
                return f;
            }
            case Kind.Function:
            {
                double x = Arg(0);
                if (_args[0]._kind == Kind.Degrees && _name is "sin" or "cos" or "tan" or "cot" or "sec" or "csc") x *= Math.PI / 180;
                return _name switch
                {
                    "sin" => Math.Sin(x), "cos" => Math.Cos(x), "tan" => Math.Tan(x),
                    "cot" => 1 / Math.Tan(x), "sec" => 1 / Math.Cos(x), "csc" => 1 / Math.Sin(x),
                    "arcsin" => Math.Asin(x), "arccos" => Math.Acos(x), "arctan" => Math.Atan(x),
                    "ln" => Math.Log(x), "log" => _args.Length > 1 ? Math.Log(x) / Math.Log(Arg(1)) : Math.Log10(x),
                    "exp" => Math.Exp(x),
                    _ => double.NaN,
                };
            }
            default: return double.NaN;
        }
    }

    /// <summary>Parses <paramref name="text"/> (already normalised by <see cref="MathVerifier"/>); null when it is not an expression.</summary>
    public static LatexExpression? TryParse(string text)
    {
        if (text.Length == 0 || text.Length > MaxLength) return null;
        try
        {
            var parser = new Parser(Tokenize(text));
            var expression = parser.ParseAll();
            return expression;
        }
        catch (FormatException) { return null; }
    }

    /// <summary>Answers longer than this are compared as text only (a policy can emit anything; parsing stays cheap).</summary>
    const int MaxLength = 400;

    // ---- tokens ----

    enum TokenKind { Number, Letter, Command, Symbol }

    readonly record struct Token(TokenKind Kind, string Text);

    static readonly string[] FunctionNames = ["arcsin", "arccos", "arctan", "sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp", "sqrt"];

    static List<Token> Tokenize(string s)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1])))
            {
                int start = i;
                while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
                if (i < s.Length && s[i] == '.' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]))
                {
                    i++;
                    while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
                }
                else if (i < s.Length && s[i] == '.' && start < i && (i + 1 == s.Length || !char.IsAsciiLetter(s[i + 1]))) i++;  // "5." is 5
                tokens.Add(new(TokenKind.Number, s[start..i]));
                continue;
            }
            if (c == '\\')
            {
                int start = ++i;
                while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
                if (i == start)
                {
                    if (i < s.Length && s[i] == '%') { tokens.Add(new(TokenKind.Symbol, "%")); i++; continue; }
                    throw new FormatException("a lone backslash");
                }
                tokens.Add(new(TokenKind.Command, s[start..i]));
                continue;
            }
            if (char.IsAsciiLetter(c))
            {
                int start = i;
                while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
                SplitLetters(s[start..i], tokens);
                continue;
            }
            if ("+-*/^_()[]{}|!%',".Contains(c)) { tokens.Add(new(TokenKind.Symbol, c.ToString())); i++; continue; }
            throw new FormatException($"unexpected character '{c}'");
        }
        return tokens;
    }

    /// <summary>
    /// A run of letters is a product of single-letter variables ("PM", "ABC"), possibly led by a function
    /// name ("sinx"). A lower-case run of three letters or more that is neither is a word, and a word means
    /// the answer is text ("not enough information"), not an expression.
    /// </summary>
    static void SplitLetters(string run, List<Token> tokens)
    {
        foreach (var name in FunctionNames)
            if (run.StartsWith(name, StringComparison.Ordinal))
            {
                tokens.Add(new(TokenKind.Command, name));
                if (run.Length > name.Length) SplitLetters(run[name.Length..], tokens);
                return;
            }
        if (run.Length >= 3 && run.All(char.IsAsciiLetterLower)) throw new FormatException($"'{run}' is a word");
        foreach (var letter in run) tokens.Add(new(TokenKind.Letter, letter.ToString()));
    }

    // ---- parser (recursive descent; precedence: + − < × ÷ implicit < unary − < ^ < postfix) ----

    static readonly HashSet<string> Greek =
    [
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
        "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
        "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
    ];

    sealed class Parser(List<Token> tokens)
    {
        int _at;
        int _depth;

        Token? Peek => _at < tokens.Count ? tokens[_at] : null;
        bool IsSymbol(string s) => Peek is { Kind: TokenKind.Symbol } t && t.Text == s;
        bool IsCommand(params string[] names) => Peek is { Kind: TokenKind.Command } t && names.Contains(t.Text);

        void Expect(string symbol)
        {
            if (!IsSymbol(symbol)) throw new FormatException($"expected '{symbol}'");
            _at++;
        }

        public LatexExpression ParseAll()
        {
            var e = Expression();
            if (_at != tokens.Count) throw new FormatException($"unexpected '{tokens[_at].Text}'");
            return e;
        }

        LatexExpression Expression()
        {
            if (++_depth > 100) throw new FormatException("nested too deeply");
            var left = Term();
            while (true)
            {
                if (IsSymbol("+")) { _at++; left = new(Kind.Add, args: [left, Term()]); }
                else if (IsSymbol("-")) { _at++; left = new(Kind.Subtract, args: [left, Term()]); }
                else break;
            }
            _depth--;
            return left;
        }

        LatexExpression Term()
        {
            var left = Unary();
            while (true)
            {
                if (IsSymbol("*") || IsCommand("cdot", "times", "ast")) { _at++; left = new(Kind.Multiply, args: [left, Unary()]); }
                else if (IsSymbol("/") || IsCommand("div")) { _at++; left = new(Kind.Divide, args: [left, Unary()]); }
                else if (StartsFactor()) left = new(Kind.Multiply, args: [left, Power()]);
                else break;
            }
            return left;
        }

        /// <summary>Whether the next token can start a factor of an implicit product ("2x", "4\sqrt{3}", "2(x+1)").</summary>
        bool StartsFactor() => Peek switch
        {
            { Kind: TokenKind.Number or TokenKind.Letter } => true,
            { Kind: TokenKind.Command } t => t.Text is not ("cdot" or "times" or "ast" or "div" or "circ" or "degree"),
            { Kind: TokenKind.Symbol } t => t.Text is "(" or "{" or "[",
            _ => false,
        };

        LatexExpression Unary()
        {
            if (IsSymbol("-")) { _at++; return new(Kind.Negate, args: [Unary()]); }
            if (IsSymbol("+")) { _at++; return Unary(); }
            return Power();
        }

        LatexExpression Power()
        {
            var b = Postfix(Primary());
            while (IsSymbol("^"))
            {
                _at++;
                if (IsCommand("circ")) { _at++; b = Postfix(new(Kind.Degrees, args: [b])); continue; }
                if (IsSymbol("{") && _at + 2 < tokens.Count && tokens[_at + 1] is { Kind: TokenKind.Command, Text: "circ" } && tokens[_at + 2].Text == "}")
                {
                    _at += 3;
                    b = Postfix(new(Kind.Degrees, args: [b]));
                    continue;
                }
                b = Postfix(new(Kind.Power, args: [b, Exponent()]));
            }
            return b;
        }

        LatexExpression Exponent()
        {
            if (IsSymbol("-")) { _at++; return new(Kind.Negate, args: [Exponent()]); }
            return Argument();
        }

        LatexExpression Postfix(LatexExpression e)
        {
            while (true)
            {
                if (IsSymbol("!")) { _at++; e = new(Kind.Factorial, args: [e]); }
                else if (IsSymbol("%") || IsCommand("percent")) { _at++; e = new(Kind.Percent, args: [e]); }
                else if (IsCommand("degree")) { _at++; e = new(Kind.Degrees, args: [e]); }
                else return e;
            }
        }

        /// <summary>A command's argument: a braced group, or one token (<c>\frac12</c> is ½, <c>\sqrt 2</c> is √2).</summary>
        LatexExpression Argument()
        {
            if (IsSymbol("{"))
            {
                _at++;
                var inner = Expression();
                Expect("}");
                return inner;
            }
            if (Peek is { Kind: TokenKind.Number } number && number.Text.Length > 1 && !number.Text.Contains('.'))
            {
                // LaTeX reads one digit: \frac 12 is 1/2. Split the token in place.
                tokens[_at] = new(TokenKind.Number, number.Text[1..]);
                return new(Kind.Number, double.Parse(number.Text[..1], CultureInfo.InvariantCulture));
            }
            return Primary();
        }

        LatexExpression Primary()
        {
            var token = Peek ?? throw new FormatException("unexpected end");
            switch (token.Kind)
            {
                case TokenKind.Number:
                    _at++;
                    return new(Kind.Number, double.Parse(token.Text.TrimEnd('.'), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture));
                case TokenKind.Letter:
                    _at++;
                    return Variable(token.Text);
                case TokenKind.Symbol:
                    switch (token.Text)
                    {
                        case "(": case "[": case "{":
                        {
                            _at++;
                            var inner = Expression();
                            Expect(token.Text switch { "(" => ")", "[" => "]", _ => "}" });
                            return inner;
                        }
                        case "|":
                        {
                            _at++;
                            var inner = Expression();
                            Expect("|");
                            return new(Kind.Abs, args: [inner]);
                        }
                    }
                    throw new FormatException($"unexpected '{token.Text}'");
                default:
                    _at++;
                    return Command(token.Text);
            }
        }

        LatexExpression Variable(string name)
        {
            if (IsSymbol("_"))
            {
                _at++;
                name += "_" + SubscriptText();
            }
            while (IsSymbol("'")) { _at++; name += "'"; }
            return new(Kind.Variable, name: name);
        }

        /// <summary>A subscript is a name, not a value: x_{12} and x_12 name the variable "x_12".</summary>
        string SubscriptText()
        {
            if (IsSymbol("{"))
            {
                _at++;
                var parts = new List<string>();
                while (!IsSymbol("}"))
                {
                    var t = Peek ?? throw new FormatException("unclosed subscript");
                    parts.Add(t.Text);
                    _at++;
                }
                _at++;
                return string.Concat(parts);
            }
            var token = Peek ?? throw new FormatException("empty subscript");
            _at++;
            return token.Text;
        }

        LatexExpression Command(string name)
        {
            switch (name)
            {
                case "pi": return new(Kind.Number, Math.PI);
                case "infty" or "infin": return new(Kind.Number, double.PositiveInfinity);
                case "frac":
                {
                    var numerator = Argument();
                    var denominator = Argument();
                    return new(Kind.Divide, args: [numerator, denominator]);
                }
                case "sqrt":
                {
                    LatexExpression index = new(Kind.Number, 2);
                    if (IsSymbol("["))
                    {
                        _at++;
                        index = Expression();
                        Expect("]");
                    }
                    return new(Kind.Root, args: [Argument(), index]);
                }
                case "sin" or "cos" or "tan" or "cot" or "sec" or "csc" or "arcsin" or "arccos" or "arctan" or "ln" or "log" or "exp":
                {
                    LatexExpression? power = null, logBase = null;
                    if (name == "log" && IsSymbol("_")) { _at++; logBase = Argument(); }
                    if (IsSymbol("^")) { _at++; power = Exponent(); }
                    // sin(x) or sin x: the argument is one factor with its powers ("\sin 30^\circ", "\sin^2 x").
                    var argument = IsSymbol("(") ? Primary() : Postfix(Power());
                    LatexExpression f = logBase != null ? new(Kind.Function, name: name, args: [argument, logBase]) : new(Kind.Function, name: name, args: [argument]);
                    return power != null ? new(Kind.Power, args: [f, power]) : f;
                }
                default:
                    if (Greek.Contains(name)) return Variable("\\" + name);
                    throw new FormatException($"unknown command \\{name}");
            }
        }
    }
}

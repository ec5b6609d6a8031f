namespace Ril.Text.Jinja;

/// <summary>Builds the statements and expressions of a template from its tokens, with jinja2's grammar and precedence.</summary>
sealed class Parser
{
    readonly List<Token> _tokens;
    int _pos;

    Parser(List<Token> tokens) { _tokens = tokens; }

    public static List<Node> Parse(string source)
    {
        var parser = new Parser(Lexer.Tokenize(source));
        var body = parser.ParseBody([], null);
        UnknownNames.Check(body);
        return body;
    }

    Token Current => _tokens[_pos];
    Token Next() => _tokens[_pos++];

    static TemplateException Error(string message, int line) => new(message, line);

    Token Expect(TokenKind kind, string? value = null)
    {
        var t = Current;
        if (t.Kind != kind || (value != null && t.Value != value))
        {
            string wanted = value ?? kind switch
            {
                TokenKind.Name => "name",
                TokenKind.BlockEnd => "end of statement block",
                TokenKind.VariableEnd => "end of print statement",
                _ => kind.ToString().ToLowerInvariant(),
            };
            throw Error($"expected token '{wanted}', got {t}", t.Line);
        }
        _pos++;
        return t;
    }

    bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        _pos++;
        return true;
    }

    bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        _pos++;
        return true;
    }

    /// <summary>Statements up to one of <paramref name="endTags"/> (left as the current token, after "{%"), or the template's end.</summary>
    List<Node> ParseBody(string[] endTags, string? innermost)
    {
        var body = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.End:
                    if (endTags.Length == 0) return body;
                    throw Error($"Unexpected end of template. Jinja was looking for the following tags: {DescribeTags(endTags)}. " +
                                $"The innermost block that needs to be closed is '{innermost}'.", t.Line);
                case TokenKind.Text:
                    _pos++;
                    body.Add(new TextNode(t.Line, t.Value));
                    break;
                case TokenKind.VariableBegin:
                    _pos++;
                    var value = ParseTuple();
                    Expect(TokenKind.VariableEnd);
                    body.Add(new OutputNode(t.Line, value));
                    break;
                case TokenKind.BlockBegin:
                    var tag = _tokens[_pos + 1];
                    if (tag.Kind == TokenKind.Name && endTags.Contains(tag.Value))
                    {
                        _pos++;
                        return body;
                    }
                    _pos++;
                    body.Add(ParseStatement(endTags, innermost));
                    break;
                default:
                    throw Error($"unexpected {t}", t.Line);
            }
        }
    }

    static string DescribeTags(string[] tags) => string.Join(" or ", tags.Select(t => $"'{t}'"));

    Node ParseStatement(string[] outerEndTags, string? innermost)
    {
        var tag = Current;
        if (tag.Kind != TokenKind.Name) throw Error("tag name expected", tag.Line);
        switch (tag.Value)
        {
            case "if": _pos++; return ParseIf(tag.Line);
            case "for": _pos++; return ParseFor(tag.Line);
            case "set": _pos++; return ParseSet(tag.Line);
            case "macro": _pos++; return ParseMacro(tag.Line);
            case "call": _pos++; return ParseCallBlock(tag.Line);
            case "filter": _pos++; return ParseFilterBlock(tag.Line);
            case "generation":
                _pos++;
                Expect(TokenKind.BlockEnd);
                var generated = ParseBody(["endgeneration"], "generation");
                EndTag("endgeneration");
                return new GenerationNode(tag.Line, generated);
            case "break" or "continue":
                _pos++;
                Expect(TokenKind.BlockEnd);
                return new LoopControlNode(tag.Line, tag.Value == "break");
            default:
                if (innermost != null)
                    throw Error($"Encountered unknown tag '{tag.Value}'. Jinja was looking for the following tags: {DescribeTags(outerEndTags)}. " +
                                $"The innermost block that needs to be closed is '{innermost}'.", tag.Line);
                throw Error($"Encountered unknown tag '{tag.Value}'.", tag.Line);
        }
    }

    void EndTag(string name)
    {
        Expect(TokenKind.Name, name);
        Expect(TokenKind.BlockEnd);
    }

    Node ParseIf(int line)
    {
        var branches = new List<(Expr, List<Node>)>();
        List<Node>? elseBody = null;
        var test = ParseTuple(withConditional: false);
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], "if");
            branches.Add((test, body));
            var t = Next();
            if (t.Value == "elif")
            {
                test = ParseTuple(withConditional: false);
                Expect(TokenKind.BlockEnd);
                continue;
            }
            if (t.Value == "else")
            {
                Expect(TokenKind.BlockEnd);
                elseBody = ParseBody(["endif"], "if");
                _pos++;
            }
            Expect(TokenKind.BlockEnd);
            return new IfNode(line, branches, elseBody);
        }
    }

    Node ParseFor(int line)
    {
        var target = ParseAssignTarget();
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withConditional: false, extraEnd: "recursive");
        Expr? condition = SkipName("if") ? ParseTuple() : null;
        if (Current.IsName("recursive")) throw Error("recursive loops are not supported", Current.Line);
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endfor", "else"], "for");
        List<Node>? elseBody = null;
        if (Next().Value == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(["endfor"], "for");
            _pos++;
        }
        Expect(TokenKind.BlockEnd);
        return new ForNode(line, target, iterable, condition, body, elseBody);
    }

    Node ParseSet(int line)
    {
        var target = ParseAssignTarget(allowAttribute: true);
        if (SkipOperator("="))
        {
            var value = ParseTuple();
            Expect(TokenKind.BlockEnd);
            return new SetNode(line, target, value);
        }
        var filters = new List<FilterExpr>();
        while (Current.IsOperator("|"))
        {
            _pos++;
            filters.Add(ParseFilter(null));
        }
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"], "set");
        EndTag("endset");
        return new SetBlockNode(line, target, body, filters);
    }

    Node ParseMacro(int line)
    {
        var name = Expect(TokenKind.Name).Value;
        var parameters = ParseSignature();
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endmacro"], "macro");
        Expect(TokenKind.Name, "endmacro");
        if (Current.Kind == TokenKind.Name) _pos++;   // {% endmacro name %}
        Expect(TokenKind.BlockEnd);
        return new MacroNode(line, name, parameters, body);
    }

    List<(string, Expr?)> ParseSignature()
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!SkipOperator(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (SkipOperator(")")) break;
            var name = Expect(TokenKind.Name).Value;
            parameters.Add((name, SkipOperator("=") ? ParseExpression() : null));
        }
        return parameters;
    }

    Node ParseCallBlock(int line)
    {
        var parameters = Current.IsOperator("(") ? ParseSignature() : [];
        var call = ParseExpression() as CallExpr ?? throw Error("expected call", line);
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endcall"], "call");
        EndTag("endcall");
        return new CallBlockNode(line, call, parameters, body);
    }

    Node ParseFilterBlock(int line)
    {
        var filters = new List<FilterExpr> { ParseFilter(null) };
        while (SkipOperator("|")) filters.Add(ParseFilter(null));
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endfilter"], "filter");
        EndTag("endfilter");
        return new FilterBlockNode(line, filters, body);
    }

    /// <summary>A name, names separated by commas (a tuple to unpack), or with <paramref name="allowAttribute"/> "ns.attr".</summary>
    Expr ParseAssignTarget(bool allowAttribute = false)
    {
        var first = Current;
        if (allowAttribute && first.Kind == TokenKind.Name && _tokens[_pos + 1].IsOperator("."))
        {
            _pos += 2;
            var attribute = Expect(TokenKind.Name).Value;
            return new AttributeExpr(first.Line, new NameExpr(first.Line, first.Value), attribute);
        }
        var names = new List<Expr>();
        bool parenthesized = SkipOperator("(");
        do
        {
            if (parenthesized && Current.IsOperator(")")) break;
            var t = Expect(TokenKind.Name);
            names.Add(new NameExpr(t.Line, t.Value));
        } while (SkipOperator(","));
        if (parenthesized) Expect(TokenKind.Operator, ")");
        return names.Count == 1 && !parenthesized ? names[0] : new TupleExpr(first.Line, names);
    }

    /// <summary>An expression, or several separated by commas (a tuple without parentheses).</summary>
    Expr ParseTuple(bool withConditional = true, string? extraEnd = null, bool explicitParentheses = false)
    {
        int line = Current.Line;
        var items = new List<Expr>();
        bool sawComma = false;
        while (true)
        {
            if (items.Count > 0)
            {
                if (!SkipOperator(",")) break;
                sawComma = true;
            }
            if (IsTupleEnd(extraEnd)) break;
            items.Add(withConditional ? ParseExpression() : ParseOr());
        }
        if (!sawComma)
        {
            if (items.Count == 1) return items[0];
            if (!explicitParentheses) throw Error($"Expected an expression, got {Current}", Current.Line);
        }
        return new TupleExpr(line, items);
    }

    bool IsTupleEnd(string? extraEnd)
    {
        var t = Current;
        return t.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.End
               || t.IsOperator(")") || (extraEnd != null && t.IsName(extraEnd));
    }

    Expr ParseExpression()
    {
        var value = ParseOr();
        while (Current.IsName("if"))
        {
            int line = Next().Line;
            var test = ParseOr();
            var otherwise = SkipName("else") ? ParseExpression() : null;
            value = new ConditionalExpr(line, test, value, otherwise);
        }
        return value;
    }

    Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or")) { int line = Next().Line; left = new BinaryExpr(line, "or", left, ParseAnd()); }
        return left;
    }

    Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and")) { int line = Next().Line; left = new BinaryExpr(line, "and", left, ParseNot()); }
        return left;
    }

    Expr ParseNot()
    {
        if (Current.IsName("not")) { int line = Next().Line; return new UnaryExpr(line, "not", ParseNot()); }
        return ParseCompare();
    }

    Expr ParseCompare()
    {
        int line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            var t = Current;
            if (t.Kind == TokenKind.Operator && t.Value is "==" or "!=" or "<" or "<=" or ">" or ">=") { _pos++; rest.Add((t.Value, ParseMath1())); }
            else if (t.IsName("in")) { _pos++; rest.Add(("in", ParseMath1())); }
            else if (t.IsName("not") && _tokens[_pos + 1].IsName("in")) { _pos += 2; rest.Add(("not in", ParseMath1())); }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(line, first, rest);
    }

    Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            var t = Next();
            left = new BinaryExpr(t.Line, t.Value, left, ParseConcat());
        }
        return left;
    }

    Expr ParseConcat()
    {
        int line = Current.Line;
        var parts = new List<Expr> { ParseMath2() };
        while (SkipOperator("~")) parts.Add(ParseMath2());
        return parts.Count == 1 ? parts[0] : new ConcatExpr(line, parts);
    }

    Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var t = Next();
            left = new BinaryExpr(t.Line, t.Value, left, ParsePow());
        }
        return left;
    }

    Expr ParsePow()
    {
        var left = ParseUnary();
        while (Current.IsOperator("**"))
        {
            var t = Next();
            left = new BinaryExpr(t.Line, "**", left, ParseUnary());
        }
        return left;
    }

    Expr ParseUnary(bool withFilter = true)
    {
        var t = Current;
        Expr node;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            _pos++;
            node = new UnaryExpr(t.Line, t.Value, ParseUnary(false));
        }
        else node = ParsePostfix(ParsePrimary());
        return withFilter ? ParseFilterChain(node) : node;
    }

    Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(t.Line, true),
                    "false" or "False" => new LiteralExpr(t.Line, false),
                    "none" or "None" => new LiteralExpr(t.Line, null),
                    _ => new NameExpr(t.Line, t.Value),
                };
            case TokenKind.String:
                var text = (string)t.Literal!;
                while (Current.Kind == TokenKind.String) text += (string)Next().Literal!;   // adjacent literals join, as in Python
                return new LiteralExpr(t.Line, text);
            case TokenKind.Integer or TokenKind.Float:
                return new LiteralExpr(t.Line, t.Literal);
            case TokenKind.Operator when t.Value == "(":
                var inner = ParseTuple(explicitParentheses: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when t.Value == "[":
                var items = new List<Expr>();
                while (!SkipOperator("]"))
                {
                    if (items.Count > 0) Expect(TokenKind.Operator, ",");
                    if (SkipOperator("]")) break;
                    items.Add(ParseExpression());
                }
                return new ListExpr(t.Line, items);
            case TokenKind.Operator when t.Value == "{":
                var entries = new List<(Expr, Expr)>();
                while (!SkipOperator("}"))
                {
                    if (entries.Count > 0) Expect(TokenKind.Operator, ",");
                    if (SkipOperator("}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    entries.Add((key, ParseExpression()));
                }
                return new DictExpr(t.Line, entries);
            default:
                throw Error($"unexpected {t}", t.Line);
        }
    }

    Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _pos++;
                var attribute = Next();
                node = attribute.Kind switch
                {
                    TokenKind.Name => new AttributeExpr(t.Line, node, attribute.Value),
                    TokenKind.Integer => new ItemExpr(t.Line, node, new LiteralExpr(t.Line, attribute.Literal)),
                    _ => throw Error("expected name or number", attribute.Line),
                };
            }
            else if (t.IsOperator("["))
            {
                _pos++;
                var indices = new List<Expr>();
                while (!SkipOperator("]"))
                {
                    if (indices.Count > 0) Expect(TokenKind.Operator, ",");
                    indices.Add(ParseSubscript());
                }
                node = new ItemExpr(t.Line, node, indices.Count == 1 ? indices[0] : new TupleExpr(t.Line, indices));
            }
            else if (t.IsOperator("("))
            {
                node = new CallExpr(t.Line, node, ParseArguments());
            }
            else return node;
        }
    }

    Expr ParseSubscript()
    {
        int line = Current.Line;
        Expr? start = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
            if (!Current.IsOperator(":")) return start;
        }
        _pos++;
        Expr? stop = Current.IsOperator("]") || Current.IsOperator(",") || Current.IsOperator(":") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOperator(":") && !(Current.IsOperator("]") || Current.IsOperator(","))) step = ParseExpression();
        return new SliceExpr(line, start, stop, step);
    }

    Arguments ParseArguments()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        Expr? star = null, doubleStar = null;
        bool first = true;
        while (!SkipOperator(")"))
        {
            if (!first) Expect(TokenKind.Operator, ",");
            first = false;
            if (SkipOperator(")")) break;
            if (SkipOperator("*")) star = ParseExpression();
            else if (SkipOperator("**")) doubleStar = ParseExpression();
            else if (Current.Kind == TokenKind.Name && _tokens[_pos + 1].IsOperator("="))
            {
                var name = Next().Value;
                _pos++;
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Error("positional argument follows keyword argument", Current.Line);
                positional.Add(ParseExpression());
            }
        }
        return new Arguments(positional, named, star, doubleStar);
    }

    Expr ParseFilterChain(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("|")) { _pos++; node = ParseFilter(node); }
            else if (t.IsName("is")) { _pos++; node = ParseTest(node, t.Line); }
            else if (t.IsOperator("(")) node = new CallExpr(t.Line, node, ParseArguments());
            else return node;
        }
    }

    FilterExpr ParseFilter(Expr? value)
    {
        var t = Expect(TokenKind.Name);
        var name = t.Value;
        while (SkipOperator(".")) name += "." + Expect(TokenKind.Name).Value;
        var args = Current.IsOperator("(") ? ParseArguments() : Arguments.None;
        return new FilterExpr(t.Line, value, name, args);
    }

    Expr ParseTest(Expr value, int line)
    {
        bool negated = SkipName("not");
        var t = Expect(TokenKind.Name);
        var name = t.Value;
        while (SkipOperator(".")) name += "." + Expect(TokenKind.Name).Value;
        var args = Arguments.None;
        var c = Current;
        if (c.IsOperator("(")) args = ParseArguments();
        else if ((c.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || c.IsOperator("[") || c.IsOperator("{"))
                 && !(c.IsName("else") || c.IsName("or") || c.IsName("and")))
        {
            if (c.IsName("is")) throw Error("You cannot chain multiple tests with is", c.Line);
            args = new Arguments([ParsePostfix(ParsePrimary())], [], null, null);
        }
        Expr test = new TestExpr(line, value, name, args);
        return negated ? new UnaryExpr(line, "not", test) : test;
    }
}

/// <summary>
/// jinja2 refuses an unknown filter or test when it compiles the template, except inside an {% if %} (its test and
/// branches, not loops or macros within) or an inline if-expression, where the error waits until the name is used.
/// </summary>
static class UnknownNames
{
    public static void Check(List<Node> body, bool deferred = false)
    {
        foreach (var node in body) Check(node, deferred);
    }

    static void Check(Node node, bool deferred)
    {
        switch (node)
        {
            case OutputNode output: Check(output.Value, deferred); break;
            case IfNode ifNode:
                foreach (var (test, branch) in ifNode.Branches) { Check(test, true); Check(branch, true); }
                if (ifNode.Else != null) Check(ifNode.Else, true);
                break;
            case ForNode forNode:
                Check(forNode.Iterable, deferred);
                if (forNode.Condition != null) Check(forNode.Condition, false);
                Check(forNode.Body);
                if (forNode.Else != null) Check(forNode.Else);
                break;
            case SetNode set: Check(set.Value, deferred); Check(set.Target, deferred); break;
            case SetBlockNode setBlock: Check(setBlock.Body); foreach (var f in setBlock.Filters) Check(f, deferred); break;
            case MacroNode macro: Check(macro.Body); foreach (var (_, d) in macro.Parameters) if (d != null) Check(d, false); break;
            case CallBlockNode call: Check(call.Call, deferred); Check(call.Body); break;
            case FilterBlockNode filter: foreach (var f in filter.Filters) Check(f, deferred); Check(filter.Body); break;
            case GenerationNode generation: Check(generation.Body); break;
        }
    }

    static void Check(Expr expr, bool deferred)
    {
        switch (expr)
        {
            case FilterExpr f when !deferred && !Builtins.HasFilter(f.Name): throw new TemplateException($"No filter named '{f.Name}'.", f.Line);
            case TestExpr t when !deferred && !Builtins.HasTest(t.Name): throw new TemplateException($"No test named '{t.Name}'.", t.Line);
            case ConditionalExpr: deferred = true; break;
        }
        foreach (var child in Children(expr)) Check(child, deferred);
    }

    static IEnumerable<Expr> Children(Expr expr) => expr switch
    {
        ListExpr list => list.Items,
        TupleExpr tuple => tuple.Items,
        DictExpr dict => dict.Items.SelectMany(e => new[] { e.Key, e.Value }),
        AttributeExpr attribute => [attribute.Target],
        ItemExpr item => [item.Target, item.Index],
        SliceExpr slice => new[] { slice.Start, slice.Stop, slice.Step }.OfType<Expr>(),
        CallExpr call => Arguments(call.Arguments).Prepend(call.Function),
        FilterExpr filter => filter.Value == null ? Arguments(filter.Arguments) : Arguments(filter.Arguments).Prepend(filter.Value),
        TestExpr test => Arguments(test.Arguments).Prepend(test.Value),
        UnaryExpr unary => [unary.Operand],
        BinaryExpr binary => [binary.Left, binary.Right],
        CompareExpr compare => compare.Rest.Select(r => r.Operand).Prepend(compare.First),
        ConcatExpr concat => concat.Parts,
        ConditionalExpr conditional => new[] { conditional.Test, conditional.Then, conditional.Else }.OfType<Expr>(),
        _ => [],
    };

    static IEnumerable<Expr> Arguments(Arguments a) =>
        a.Positional.Concat(a.Named.Select(n => n.Value)).Concat(new[] { a.Star, a.DoubleStar }.OfType<Expr>());
}

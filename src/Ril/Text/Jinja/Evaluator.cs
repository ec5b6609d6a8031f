using System.Text;

namespace Ril.Text.Jinja;

/// <summary>Variables visible at one point of a template: a frame and the frames around it.</summary>
sealed class Scope(Scope? parent)
{
    readonly Dictionary<string, object?> _variables = new();
    public Scope? Parent { get; } = parent;

    public object? Lookup(string name)
    {
        for (var s = this; s != null; s = s.Parent)
            if (s._variables.TryGetValue(name, out var value)) return value;
        return Undefined.Variable(name);
    }

    public void Set(string name, object? value) => _variables[name] = value;
}

/// <summary>The <c>loop</c> variable of a for loop (not recursive, so its depth is always 1).</summary>
sealed class LoopContext
{
    readonly IReadOnlyList<object?> _items;
    object? _lastChanged = Undefined.WithHint("loop.changed has not been called");
    internal int Index0 { get; set; }

    internal LoopContext(IReadOnlyList<object?> items) { _items = items; }

    internal object? Attribute(string name) => name switch
    {
        "index" => (long)Index0 + 1,
        "index0" => (long)Index0,
        "revindex" => (long)(_items.Count - Index0),
        "revindex0" => (long)(_items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == _items.Count - 1,
        "length" => (long)_items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? _items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
        "nextitem" => Index0 + 1 < _items.Count ? _items[Index0 + 1] : Undefined.WithHint("there is no next item"),
        "cycle" => new NativeFunction("cycle", (args, _) =>
            args.Count == 0 ? throw new TemplateException("no items for cycling given") : args[Index0 % args.Count]),
        "changed" => new NativeFunction("changed", (args, _) =>
        {
            var value = args.ToArray();
            if (_lastChanged is object?[] last && PythonValues.Equal(last, value)) return false;
            _lastChanged = value;
            return true;
        }),
        _ => Undefined.Member(this, name),
    };
}

/// <summary>A <c>{% macro %}</c>: called like a function, it renders its body with the arguments bound.</summary>
sealed class Macro : ITemplateCallable
{
    readonly Evaluator _evaluator;
    readonly MacroNode _node;
    readonly Scope _scope;
    internal Macro? Caller { get; init; }

    public string Name => _node.Name;

    internal Macro(Evaluator evaluator, MacroNode node, Scope scope) { _evaluator = evaluator; _node = node; _scope = scope; }

    internal Macro WithCaller(Macro caller) => new(_evaluator, _node, _scope) { Caller = caller };

    public object? Call(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        var frame = new Scope(_scope);
        var parameters = _node.Parameters;
        var extraKeywords = PythonValues.NewDict();
        foreach (var (key, value) in kwargs)
        {
            if (parameters.Any(p => p.Name == key)) continue;
            if (key == "caller" && Caller == null) { frame.Set("caller", value); continue; }
            extraKeywords[key] = value;
        }
        for (int i = 0; i < parameters.Count; i++)
        {
            var (name, defaultValue) = parameters[i];
            if (i < args.Count)
            {
                if (kwargs.ContainsKey(name)) throw new TemplateException($"macro {PythonValues.Repr(Name)} got multiple values for argument {PythonValues.Repr(name)}");
                frame.Set(name, args[i]);
            }
            else if (kwargs.TryGetValue(name, out var given)) frame.Set(name, given);
            else frame.Set(name, defaultValue != null ? _evaluator.Evaluate(defaultValue, frame)
                                                      : Undefined.WithHint($"parameter {PythonValues.Repr(name)} was not provided"));
        }
        frame.Set("varargs", args.Skip(parameters.Count).ToArray());
        frame.Set("kwargs", extraKeywords);
        if (Caller != null) frame.Set("caller", Caller);
        var output = new StringBuilder();
        _evaluator.Execute(_node.Body, frame, output);
        return output.ToString();
    }
}

/// <summary>A method of a value, looked up by name (<c>content.strip</c>) and run when called.</summary>
sealed class BoundMethod(object target, string name) : ITemplateCallable
{
    public object? Call(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) =>
        Builtins.CallMethod(target, name, args, kwargs);
}

/// <summary>Renders parsed templates: statements write to a buffer, expressions have Python's semantics.</summary>
sealed class Evaluator
{
    enum Flow { Normal, Break, Continue }

    readonly string? _templateName;
    int _loopDepth;

    internal Evaluator(string? templateName) { _templateName = templateName; }

    internal string Render(List<Node> body, Scope scope)
    {
        var output = new StringBuilder();
        Execute(body, scope, output);
        return output.ToString();
    }

    internal void Execute(List<Node> body, Scope scope, StringBuilder output)
    {
        if (Run(body, scope, output) != Flow.Normal) throw new TemplateException("break or continue outside of a loop");
    }

    Flow Run(List<Node> body, Scope scope, StringBuilder output)
    {
        foreach (var node in body)
        {
            Flow flow;
            try { flow = RunNode(node, scope, output); }
            catch (TemplateException e) { throw e.Locate(node.Line, _templateName); }
            catch (Exception e) when (e is InvalidCastException or OverflowException or ArgumentException or FormatException)
            {
                throw new TemplateException(e.Message, node.Line, _templateName);   // a value of the wrong kind where C# expected another
            }
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    Flow RunNode(Node node, Scope scope, StringBuilder output)
    {
        switch (node)
        {
            case TextNode text: output.Append(text.Text); return Flow.Normal;
            case OutputNode print: output.Append(PythonValues.Str(Evaluate(print.Value, scope))); return Flow.Normal;
            case IfNode ifNode:
                foreach (var (test, branch) in ifNode.Branches)
                    if (PythonValues.Truthy(Evaluate(test, scope))) return Run(branch, scope, output);
                return ifNode.Else != null ? Run(ifNode.Else, scope, output) : Flow.Normal;
            case ForNode forNode: return RunFor(forNode, scope, output);
            case SetNode set: Assign(set.Target, Evaluate(set.Value, scope), scope); return Flow.Normal;
            case SetBlockNode setBlock:
                var captured = new StringBuilder();
                Execute(setBlock.Body, new Scope(scope), captured);
                object? value = captured.ToString();
                foreach (var filter in setBlock.Filters) value = ApplyFilter(filter, value, scope);
                Assign(setBlock.Target, value, scope);
                return Flow.Normal;
            case MacroNode macro: scope.Set(macro.Name, new Macro(this, macro, scope)); return Flow.Normal;
            case CallBlockNode call:
                var caller = new Macro(this, new MacroNode(call.Line, "caller", call.Parameters, call.Body), scope);
                var callee = Evaluate(call.Call.Function, scope);
                var (args, kwargs) = EvaluateArguments(call.Call.Arguments, scope);
                if (callee is Macro m) callee = m.WithCaller(caller);
                else kwargs["caller"] = caller;
                output.Append(PythonValues.Str(Invoke(callee, args, kwargs)));
                return Flow.Normal;
            case FilterBlockNode filterBlock:
                var inner = new StringBuilder();
                var flow = Run(filterBlock.Body, scope, inner);
                object? filtered = inner.ToString();
                foreach (var filter in filterBlock.Filters) filtered = ApplyFilter(filter, filtered, scope);
                output.Append(PythonValues.Str(filtered));
                return flow;
            case LoopControlNode control:
                if (_loopDepth == 0) throw new TemplateException($"'{(control.IsBreak ? "break" : "continue")}' outside of a loop");
                return control.IsBreak ? Flow.Break : Flow.Continue;
            case GenerationNode generation: return Run(generation.Body, new Scope(scope), output);   // a call block in jinja2: what it sets stays inside
            default: throw new TemplateException($"cannot run {node.GetType().Name}");
        }
    }

    Flow RunFor(ForNode node, Scope scope, StringBuilder output)
    {
        var items = new List<object?>();
        foreach (var item in Iterate(Evaluate(node.Iterable, scope)))
        {
            if (node.Condition != null)
            {
                var test = new Scope(scope);
                Assign(node.Target, item, test);
                if (!PythonValues.Truthy(Evaluate(node.Condition, test))) continue;
            }
            items.Add(item);
        }
        var loop = new LoopContext(items);
        _loopDepth++;
        try
        {
            for (int i = 0; i < items.Count; i++)
            {
                var frame = new Scope(scope);   // a fresh frame each iteration: what the body sets does not outlive it
                loop.Index0 = i;
                Assign(node.Target, items[i], frame);
                frame.Set("loop", loop);
                if (Run(node.Body, frame, output) == Flow.Break) break;
            }
        }
        finally { _loopDepth--; }
        if (items.Count == 0 && node.Else != null) return Run(node.Else, scope, output);
        return Flow.Normal;
    }

    void Assign(Expr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr name: scope.Set(name.Name, value); break;
            case TupleExpr tuple:
                var values = Iterate(value).ToList();
                if (values.Count < tuple.Items.Count) throw new TemplateException($"not enough values to unpack (expected {tuple.Items.Count}, got {values.Count})");
                if (values.Count > tuple.Items.Count) throw new TemplateException($"too many values to unpack (expected {tuple.Items.Count})");
                for (int i = 0; i < values.Count; i++) Assign(tuple.Items[i], values[i], scope);
                break;
            case AttributeExpr { Target: NameExpr owner } attribute:
                if (scope.Lookup(owner.Name) is not Namespace ns) throw new TemplateException("cannot assign attribute on non-namespace object");
                ns.Attributes[attribute.Name] = value;
                break;
            default: throw new TemplateException("cannot assign to this expression");
        }
    }

    /// <summary>Python's iter(): a list's items, a string's characters, a dict's keys; Undefined is empty.</summary>
    internal static IEnumerable<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list.ToList(),
        object?[] tuple => tuple,
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()),
        Dictionary<object, object?> dict => dict.Keys.ToList<object?>(),
        Undefined => [],
        _ => throw new TemplateException($"'{PythonValues.TypeName(value)}' object is not iterable"),
    };

    internal object? Evaluate(Expr expr, Scope scope)
    {
        try { return EvaluateUnlocated(expr, scope); }
        catch (TemplateException e) when (e.Line == 0) { throw e.Locate(expr.Line, _templateName); }
    }

    object? EvaluateUnlocated(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr literal: return literal.Value;
            case NameExpr name: return scope.Lookup(name.Name);
            case ListExpr list: return list.Items.Select(i => Evaluate(i, scope)).ToList();
            case TupleExpr tuple: return tuple.Items.Select(i => Evaluate(i, scope)).ToArray();
            case DictExpr dict:
                var result = PythonValues.NewDict();
                foreach (var (k, v) in dict.Items)
                {
                    var key = Evaluate(k, scope) ?? throw new TemplateException("None as a dict key is not supported");
                    result[key] = Evaluate(v, scope);
                }
                return result;
            case AttributeExpr attribute: return Builtins.GetAttribute(Evaluate(attribute.Target, scope), attribute.Name);
            case ItemExpr { Index: SliceExpr slice } sliced:
                return Builtins.Slice(Evaluate(sliced.Target, scope), EvaluateOptional(slice.Start, scope),
                    EvaluateOptional(slice.Stop, scope), EvaluateOptional(slice.Step, scope));
            case ItemExpr item: return Builtins.GetItem(Evaluate(item.Target, scope), Evaluate(item.Index, scope));
            case CallExpr call:
                var function = Evaluate(call.Function, scope);
                var (args, kwargs) = EvaluateArguments(call.Arguments, scope);
                return Invoke(function, args, kwargs);
            case FilterExpr filter: return ApplyFilter(filter, Evaluate(filter.Value!, scope), scope);
            case TestExpr test:
                var (testArgs, testKwargs) = EvaluateArguments(test.Arguments, scope);
                return Builtins.Test(test.Name, Evaluate(test.Value, scope), testArgs, testKwargs);
            case UnaryExpr unary: return Operators.Unary(unary.Operator, Evaluate(unary.Operand, scope));
            case BinaryExpr { Operator: "and" } and:
                var left = Evaluate(and.Left, scope);
                return PythonValues.Truthy(left) ? Evaluate(and.Right, scope) : left;
            case BinaryExpr { Operator: "or" } or:
                var first = Evaluate(or.Left, scope);
                return PythonValues.Truthy(first) ? first : Evaluate(or.Right, scope);
            case BinaryExpr binary: return Operators.Binary(binary.Operator, Evaluate(binary.Left, scope), Evaluate(binary.Right, scope));
            case CompareExpr compare:
                var current = Evaluate(compare.First, scope);
                foreach (var (op, operand) in compare.Rest)
                {
                    var next = Evaluate(operand, scope);
                    if (!Operators.Compare(op, current, next)) return false;
                    current = next;
                }
                return true;
            case ConcatExpr concat: return string.Concat(concat.Parts.Select(p => PythonValues.Str(Evaluate(p, scope))));
            case ConditionalExpr conditional:
                if (PythonValues.Truthy(Evaluate(conditional.Test, scope))) return Evaluate(conditional.Then, scope);
                return conditional.Else != null ? Evaluate(conditional.Else, scope)
                    : Undefined.WithHint($"the inline if-expression on line {conditional.Line} evaluated to false and no else section was defined.");
            default: throw new TemplateException($"cannot evaluate {expr.GetType().Name}");
        }
    }

    object? EvaluateOptional(Expr? expr, Scope scope) => expr == null ? null : Evaluate(expr, scope);

    object? ApplyFilter(FilterExpr filter, object? value, Scope scope)
    {
        var (args, kwargs) = EvaluateArguments(filter.Arguments, scope);
        return Builtins.Filter(filter.Name, value, args, kwargs);
    }

    (List<object?> Args, Dictionary<string, object?> Kwargs) EvaluateArguments(Arguments arguments, Scope scope)
    {
        var args = arguments.Positional.Select(a => Evaluate(a, scope)).ToList();
        var kwargs = new Dictionary<string, object?>();
        foreach (var (name, value) in arguments.Named) kwargs[name] = Evaluate(value, scope);
        if (arguments.Star != null) args.AddRange(Iterate(Evaluate(arguments.Star, scope)));
        if (arguments.DoubleStar != null)
        {
            if (Evaluate(arguments.DoubleStar, scope) is not Dictionary<object, object?> extra) throw new TemplateException("argument after ** must be a mapping");
            foreach (var (k, v) in extra) kwargs[PythonValues.Str(k)] = v;
        }
        return (args, kwargs);
    }

    static object? Invoke(object? function, List<object?> args, Dictionary<string, object?> kwargs) => function switch
    {
        ITemplateCallable callable => callable.Call(args, kwargs),
        Undefined undefined => throw undefined.Error(),
        _ => throw new TemplateException($"'{PythonValues.TypeName(function)}' object is not callable"),
    };
}

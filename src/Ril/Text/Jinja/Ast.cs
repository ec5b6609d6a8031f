namespace Ril.Text.Jinja;

// The parsed template: statements (Node) and expressions (Expr), each with the line it starts on.

abstract record Node(int Line);
sealed record TextNode(int Line, string Text) : Node(Line);
sealed record OutputNode(int Line, Expr Value) : Node(Line);
sealed record IfNode(int Line, List<(Expr Test, List<Node> Body)> Branches, List<Node>? Else) : Node(Line);
sealed record ForNode(int Line, Expr Target, Expr Iterable, Expr? Condition, List<Node> Body, List<Node>? Else) : Node(Line);
sealed record SetNode(int Line, Expr Target, Expr Value) : Node(Line);
sealed record SetBlockNode(int Line, Expr Target, List<Node> Body, List<FilterExpr> Filters) : Node(Line);
sealed record MacroNode(int Line, string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body) : Node(Line);
sealed record CallBlockNode(int Line, CallExpr Call, List<(string Name, Expr? Default)> Parameters, List<Node> Body) : Node(Line);
sealed record FilterBlockNode(int Line, List<FilterExpr> Filters, List<Node> Body) : Node(Line);
sealed record LoopControlNode(int Line, bool IsBreak) : Node(Line);
/// <summary>transformers' {% generation %}: marks the assistant's tokens; renders its body unchanged.</summary>
sealed record GenerationNode(int Line, List<Node> Body) : Node(Line);

abstract record Expr(int Line);
sealed record LiteralExpr(int Line, object? Value) : Expr(Line);
sealed record NameExpr(int Line, string Name) : Expr(Line);
sealed record ListExpr(int Line, List<Expr> Items) : Expr(Line);
sealed record TupleExpr(int Line, List<Expr> Items) : Expr(Line);
sealed record DictExpr(int Line, List<(Expr Key, Expr Value)> Items) : Expr(Line);
sealed record AttributeExpr(int Line, Expr Target, string Name) : Expr(Line);
sealed record ItemExpr(int Line, Expr Target, Expr Index) : Expr(Line);
sealed record SliceExpr(int Line, Expr? Start, Expr? Stop, Expr? Step) : Expr(Line);
sealed record CallExpr(int Line, Expr Function, Arguments Arguments) : Expr(Line);
sealed record FilterExpr(int Line, Expr? Value, string Name, Arguments Arguments) : Expr(Line);
sealed record TestExpr(int Line, Expr Value, string Name, Arguments Arguments) : Expr(Line);
sealed record UnaryExpr(int Line, string Operator, Expr Operand) : Expr(Line);
sealed record BinaryExpr(int Line, string Operator, Expr Left, Expr Right) : Expr(Line);
sealed record CompareExpr(int Line, Expr First, List<(string Operator, Expr Operand)> Rest) : Expr(Line);
sealed record ConcatExpr(int Line, List<Expr> Parts) : Expr(Line);
sealed record ConditionalExpr(int Line, Expr Test, Expr Then, Expr? Else) : Expr(Line);

sealed record Arguments(List<Expr> Positional, List<(string Name, Expr Value)> Named, Expr? Star, Expr? DoubleStar)
{
    public static readonly Arguments None = new([], [], null, null);
}

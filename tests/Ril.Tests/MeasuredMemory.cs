namespace Ril.Tests;

/// <summary>
/// Tests that measure the process's retained memory run alone, after the others: a test running beside them and
/// allocating would move the figure (a streaming test once saw 18 MB of another test's garbage and failed).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuredMemory
{
    public const string Name = "measured memory";
}

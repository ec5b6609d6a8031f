namespace Ril.Training;

/// <summary>A run that stopped on purpose (its inputs went bad): the message says what happened and how to continue.</summary>
public sealed class RunStoppedException(string message) : Exception(message);

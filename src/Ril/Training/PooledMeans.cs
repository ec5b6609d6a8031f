using Ril.Tensors.Distributed;

namespace Ril.Training;

/// <summary>
/// Means of named metrics over the global batch: each process adds the values it holds (non-finite ones are left out),
/// and <see cref="Resolve"/> sums every (sum, count) pair over the processes in one call, so a data-parallel run reports
/// what a single process would (pooled counts, never averaged ratios). Every process must add the same names in the
/// same order; a name with no values anywhere resolves to null.
/// </summary>
public sealed class PooledMeans
{
    readonly List<(string Name, double Sum, double Count)> _items = [];

    public void Add(string name, IEnumerable<float> values)
    {
        double sum = 0, count = 0;
        foreach (var v in values)
            if (float.IsFinite(v)) { sum += v; count++; }
        _items.Add((name, sum, count));
    }

    /// <summary>A mean given by its parts (e.g. a token-weighted mean: the sum over tokens and the token count).</summary>
    public void Add(string name, double sum, double count) => _items.Add((name, sum, count));

    /// <summary>A value every process already holds in full (e.g. a statistic that was pooled before): it resolves to itself.</summary>
    public void AddGlobal(string name, double? value) =>
        _items.Add((name, value is { } v && double.IsFinite(v) ? v : 0, value is { } w && double.IsFinite(w) ? 1 : 0));

    public List<KeyValuePair<string, double?>> Resolve(ICommunicator world)
    {
        var flat = _items.SelectMany(i => new[] { i.Sum, i.Count }).ToArray();
        world.AllReduceSum(flat);
        return _items.Select((item, i) => new KeyValuePair<string, double?>(item.Name, flat[2 * i + 1] > 0 ? flat[2 * i] / flat[2 * i + 1] : null)).ToList();
    }
}

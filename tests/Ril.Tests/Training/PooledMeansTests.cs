using Ril.Tensors.Distributed;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>RIL's step metrics pool sums and counts over processes: two ranks report what one process holding all the values would.</summary>
public sealed class PooledMeansTests
{
    [Fact]
    public void Two_ranks_resolve_to_the_means_over_all_their_values()
    {
        float[][] shares = [[1f, 0f, 1f], [0f, float.NaN]];   // rank 0 holds three values, rank 1 two (one not finite)
        var results = InProcessGroup.Run(2, world =>
        {
            var pool = new PooledMeans();
            pool.Add("accuracy", shares[world.Rank]);
            pool.Add("entropy", world.Rank == 0 ? 6.0 : 2.0, world.Rank == 0 ? 3 : 1);   // token-weighted
            pool.Add("empty", []);
            pool.AddGlobal("disc/loss", 0.25);
            return pool.Resolve(world).ToDictionary(kv => kv.Key, kv => kv.Value);
        });
        foreach (var r in results)
        {
            Assert.Equal(2.0 / 4, r["accuracy"]!.Value, 12);   // not the mean of the ranks' means (2/3 and 0)
            Assert.Equal(8.0 / 4, r["entropy"]!.Value, 12);
            Assert.Null(r["empty"]);
            Assert.Equal(0.25, r["disc/loss"]!.Value, 12);
        }
    }
}

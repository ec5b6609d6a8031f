using Ril.Tensors.Autograd;
using Ril.Tensors.Distributed;

namespace Ril.Tensors.Tests;

/// <summary>The collectives and gradient synchronisation of data-parallel training, over ranks that are threads (no MPI).</summary>
public class DistributedTests
{
    [Fact]
    public void Collectives_sum_gather_and_broadcast_in_rank_order()
    {
        var results = InProcessGroup.Run(3, world =>
        {
            var sum = world.Sum(world.Rank, 1.5);
            var gathered = world.AllGather(Enumerable.Repeat((float)world.Rank, world.Rank + 1).ToArray());   // lengths 1, 2, 3
            var names = world.AllGatherJson(new List<string> { $"rank{world.Rank}" });
            var broadcast = new float[] { world.Rank, world.Rank };
            world.Broadcast(broadcast, root: 2);
            return (sum, gathered, names, broadcast);
        });
        foreach (var (sum, gathered, names, broadcast) in results)
        {
            Assert.Equal([3.0, 4.5], sum);
            Assert.Equal([0f, 1f, 1f, 2f, 2f, 2f], gathered);
            Assert.Equal(["rank0", "rank1", "rank2"], names.SelectMany(n => n));
            Assert.Equal([2f, 2f], broadcast);
        }
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(2, 2)]
    [InlineData(7, 1)]
    public void Shares_of_a_batch_are_contiguous_and_cover_it_once(int total, int ranks)
    {
        var shares = InProcessGroup.Run(ranks, world => world.ShareOf(total));
        Assert.Equal(0, shares[0].Start);
        for (int r = 1; r < ranks; r++) Assert.Equal(shares[r - 1].Start + shares[r - 1].Count, shares[r].Start);
        Assert.Equal(total, shares.Sum(s => s.Count));
        Assert.True(shares.Max(s => s.Count) - shares.Min(s => s.Count) <= 1);
    }

    [Fact]
    public void Gradients_are_summed_in_buckets_and_a_gradient_nowhere_stays_absent()
    {
        const int bucket = 8;   // small, so that small gradients share buckets, several flushes happen, and the large one goes alone
        var sums = InProcessGroup.Run(2, world =>
        {
            Tensor Parameter(string name, int length, bool withGrad)
            {
                var p = Tensor.Zeros(length);
                (p.Name, p.RequiresGrad) = (name, true);
                if (withGrad) { var g = p.GradData(); for (int i = 0; i < length; i++) g[i] = (world.Rank + 1) * (i + 1); }
                return p;
            }
            var parameters = new[]
            {
                Parameter("small", 3, true), Parameter("large", 20, true), Parameter("only_on_rank_1", 5, world.Rank == 1),
                Parameter("nowhere", 4, false), Parameter("second_small", 6, true),
            };
            GradientSync.AllReduceSum(parameters, world, bucket);
            return parameters.ToDictionary(p => p.Name!, p => p.Grad?.ToArray());
        });
        foreach (var grads in sums)
        {
            foreach (var name in new[] { "small", "large", "second_small" })
                Assert.Equal(Enumerable.Range(1, grads[name]!.Length).Select(i => 3f * i), grads[name]!);   // (1 + 2)·i
            Assert.Equal(Enumerable.Range(1, 5).Select(i => 2f * i), grads["only_on_rank_1"]!);          // rank 0 took part with zeros
            Assert.Null(grads["nowhere"]);                                                                  // the optimizer skips it, as one process would
        }
    }

    /// <summary>A two-layer net whose first weight is used twice (tied), on this rank's input: y = Σ tanh(W2·tanh(W1·x))·(W1·x).</summary>
    static Tensor[] TwoLayers(out Tensor loss, int rank)
    {
        var rng = new Rng(5);
        var w1 = Tensor.FromArray(Enumerable.Range(0, 12).Select(_ => rng.NextFloat() - 0.5f).ToArray(), 4, 3).AsParameter("w1");
        var w2 = Tensor.FromArray(Enumerable.Range(0, 16).Select(_ => rng.NextFloat() - 0.5f).ToArray(), 4, 4).AsParameter("w2");
        var unused = Tensor.Zeros(2).AsParameter("unused");
        var x = Tensor.FromArray([1f + rank, -0.5f, 0.25f * rank, 2f, 0f, -1f], 2, 3);
        var h = Ops.Linear(x, w1);
        loss = Ops.SumAll(Ops.Mul(Ops.Tanh(Ops.Linear(Ops.Tanh(h), w2)), h));
        return [w1, w2, unused];
    }

    [Fact]
    public void The_tape_says_when_each_parameter_gradient_is_final()
    {
        var parameters = TwoLayers(out var loss, rank: 0);
        var atSignal = new Dictionary<string, float[]>();
        var inGraph = new List<string>();
        Tape.OnNextBackward(new BackwardListener(
            contains => inGraph.AddRange(parameters.Where(contains).Select(p => p.Name!)),
            p => atSignal.Add(p.Name!, p.Grad!.ToArray())));
        loss.Backward();
        Assert.Equal(["w1", "w2"], inGraph);                                 // not "unused"
        Assert.Equal(["w2", "w1"], atSignal.Keys);                           // w1 only after its second use has passed back
        foreach (var p in parameters.Where(p => p.Grad is not null)) Assert.Equal(p.Grad!.ToArray(), atSignal[p.Name!]);
        TwoLayers(out var again, rank: 0);
        again.Backward();                                                    // the listener was for one backward only
        Assert.Equal(2, atSignal.Count);
    }

    [Fact]
    public void Buckets_summed_during_backward_equal_sums_after_it()
    {
        (float[] Gradients, int SentDuringBackward) Sum(bool overlap) => InProcessGroup.Run(2, world =>
        {
            var parameters = TwoLayers(out var loss, world.Rank);
            // Buckets [unused], [w2], [w1]: the first two can go before backward has finished w1.
            using var buckets = new GradientBuckets(parameters, world, bucketFloats: 12);
            if (overlap) buckets.StartDuringNextBackward();
            loss.Backward();
            int sent = buckets.SentSoFar;
            buckets.Finish();
            Assert.Null(parameters[2].Grad);
            return (parameters.Take(2).SelectMany(p => p.Grad!.ToArray()).ToArray(), sent);
        })[0];
        var (after, _) = Sum(overlap: false);
        var (during, sentEarly) = Sum(overlap: true);
        Assert.Equal(after, during);
        Assert.Equal(3, sentEarly);                                          // all three were handed over by the end of backward
    }

    [Fact]
    public void A_single_process_leaves_gradients_as_they_are()
    {
        var p = Tensor.Zeros(3);
        p.RequiresGrad = true;
        p.GradData().Fill(2f);
        GradientSync.AllReduceSum([p], SingleProcess.Instance);
        GradientSync.AllReduceMean([p], SingleProcess.Instance);
        Assert.Equal([2f, 2f, 2f], p.Grad!.ToArray());
    }
}

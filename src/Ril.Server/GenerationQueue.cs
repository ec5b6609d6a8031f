using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Ril.Models.Generation;

namespace Ril.Server;

/// <summary>
/// What the generation loop has done (<see cref="GenerateCalls"/> below <see cref="Requests"/> means requests shared calls)
/// and is doing: <see cref="Waiting"/> requests queued, <see cref="Running"/> in the call under way.
/// </summary>
public sealed record GenerationStatistics(long Requests, long GenerateCalls, long Sequences, long Tokens, int LargestCall, int Waiting, int Running, double BusySeconds);

/// <summary>One request waiting for the generation loop, and where its tokens and its result go.</summary>
internal sealed class PendingGeneration(GenerationRequest request, SamplingOptions options, bool streaming, CancellationToken cancellation)
{
    public GenerationRequest Request { get; } = request;
    public SamplingOptions Options { get; } = options;
    public CancellationToken Cancellation { get; } = cancellation;
    /// <summary>(sample, token) as each is sampled, for streaming; completed when the request's generation ends.</summary>
    public Channel<(int Sample, int Token)>? Tokens { get; } =
        streaming ? Channel.CreateUnbounded<(int, int)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true }) : null;
    public TaskCompletionSource<IReadOnlyList<GeneratedSequence>> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// The server's one generation loop. A model can run one <see cref="Generator.Generate"/> at a time, so requests wait
/// in a queue and one thread serves them in batches: when the loop is idle it waits <c>window</c> for company, then
/// takes the oldest request and every waiting request with the same sampling options (up to <c>maxSequences</c>
/// samples; a single request with a larger n goes alone) into one call. Requests that arrive during a call wait for the next one, so under load every call is
/// as full as the queue allows. A request whose client has gone is dropped before its call.
/// </summary>
public sealed class GenerationQueue : IDisposable
{
    readonly Generator _generator;
    readonly TimeSpan _window;
    readonly int _maxSequences;
    readonly Channel<PendingGeneration> _queue = Channel.CreateUnbounded<PendingGeneration>(new UnboundedChannelOptions { SingleReader = true });
    readonly Thread _thread;
    long _requests, _calls, _sequences, _tokens, _busyTicks;
    int _largest, _waiting, _running;

    public GenerationQueue(Generator generator, TimeSpan window, int maxSequences)
    {
        if (maxSequences < 1) throw new ArgumentException($"a generation call must take at least one sequence (got {maxSequences})");
        _generator = generator; _window = window; _maxSequences = maxSequences;
        _thread = new Thread(Loop) { IsBackground = true, Name = "ril-generation" };
        _thread.Start();
    }

    public GenerationStatistics Statistics => new(
        Interlocked.Read(ref _requests), Interlocked.Read(ref _calls), Interlocked.Read(ref _sequences), Interlocked.Read(ref _tokens),
        Volatile.Read(ref _largest), Volatile.Read(ref _waiting), Volatile.Read(ref _running), TimeSpan.FromTicks(Interlocked.Read(ref _busyTicks)).TotalSeconds);

    /// <summary>Queues a request; throws <see cref="ApiError"/> 503 once the queue is closed.</summary>
    internal PendingGeneration Enqueue(GenerationRequest request, SamplingOptions options, bool streaming, CancellationToken cancellation)
    {
        var pending = new PendingGeneration(request, options, streaming, cancellation);
        Interlocked.Increment(ref _waiting);
        if (!_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _waiting);
            throw new ApiError(503, "the server is shutting down", null, "shutting_down", ApiError.ServerError);
        }
        return pending;
    }

    /// <summary>Takes no more requests, serves those already queued, and waits for the loop to end.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _thread.Join();
    }

    void Loop()
    {
        var backlog = new List<PendingGeneration>();
        while (true)
        {
            if (backlog.Count == 0)
            {
                if (!_queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) return;
                if (_window > TimeSpan.Zero) Thread.Sleep(_window);   // let the requests that arrive together go together
            }
            while (_queue.Reader.TryRead(out var next)) backlog.Add(next);
            foreach (var gone in backlog.Where(p => p.Cancellation.IsCancellationRequested).ToList())
            {
                backlog.Remove(gone);
                Interlocked.Decrement(ref _waiting);
                gone.Tokens?.Writer.TryComplete();
                gone.Result.TrySetCanceled(gone.Cancellation);
            }
            if (backlog.Count == 0) continue;

            // The oldest request and every later one that can share its call.
            var key = OptionsKey(backlog[0].Options);
            var call = new List<PendingGeneration>();
            int sequences = 0;
            foreach (var pending in backlog)
            {
                if (OptionsKey(pending.Options) != key) continue;
                if (call.Count > 0 && sequences + pending.Request.NumSamples > _maxSequences) break;
                call.Add(pending);
                sequences += pending.Request.NumSamples;
            }
            backlog.RemoveAll(call.Contains);
            Volatile.Write(ref _running, call.Count);
            Interlocked.Add(ref _waiting, -call.Count);
            Run(call, sequences);
            Volatile.Write(ref _running, 0);
        }
    }

    void Run(List<PendingGeneration> call, int sequences)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var results = _generator.Generate(call.Select(p => p.Request).ToList(), call[0].Options,
                (request, sample, token) => call[request].Tokens?.Writer.TryWrite((sample, token)));
            Interlocked.Increment(ref _calls);
            Interlocked.Add(ref _requests, call.Count);
            Interlocked.Add(ref _sequences, sequences);
            Interlocked.Add(ref _tokens, results.Sum(r => r.Sum(s => (long)s.TokenIds.Length)));
            int largest;
            while (call.Count > (largest = Volatile.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, call.Count, largest) != largest) { }
            for (int i = 0; i < call.Count; i++)
            {
                call[i].Result.TrySetResult(results[i]);
                call[i].Tokens?.Writer.TryComplete();
            }
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _calls);
            foreach (var pending in call)
            {
                pending.Result.TrySetException(e);
                pending.Tokens?.Writer.TryComplete(e);
            }
        }
        finally { Interlocked.Add(ref _busyTicks, clock.Elapsed.Ticks); }
    }

    /// <summary>Requests share a call only when every sampling option is the same (the options are per call).</summary>
    static string OptionsKey(SamplingOptions o) => string.Join('\u001f',
        o.Temperature.ToString("R", CultureInfo.InvariantCulture), o.TopP.ToString("R", CultureInfo.InvariantCulture),
        o.TopK, o.RepetitionPenalty.ToString("R", CultureInfo.InvariantCulture), o.MaxNewTokens,
        string.Join(',', o.StopTokens), string.Join('\u001e', o.StopStrings));
}

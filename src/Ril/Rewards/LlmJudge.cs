using System.Collections.Concurrent;

namespace Ril.Rewards;

/// <summary>What a judged response scores when the judge gives no verdict (its reply has no 0/1, or every attempt failed).</summary>
public enum JudgeFailurePolicy
{
    /// <summary>Score 0: an unjudged response earns nothing (never 1; docs/spec/RIL.md "A parse failure is not a 1").</summary>
    ScoreZero,
    /// <summary>Score by the rule-based <see cref="AnswerReward"/> instead.</summary>
    FallBackToVerifier,
}

/// <summary>Where a verdict came from.</summary>
public enum JudgeVerdictSource { Judged, Cached, ParseFailure, EndpointFailure }

/// <summary>A response's answer score (0 or 1) and how it was reached.</summary>
public sealed record JudgeVerdict(float Score, JudgeVerdictSource Source, string? Reply, string? Error = null);

/// <summary>
/// Judge statistics. Requests = Calls + CacheHits (a request that finds the same question already in flight
/// waits for it and counts as a cache hit). Failures are Calls without a verdict, split by cause.
/// </summary>
public sealed record JudgeStatisticsSnapshot(
    long Requests, long Calls, long CacheHits, long ParseFailures, long EndpointFailures, long FallbackScores,
    long Ones, long Zeros, EndpointStatisticsSnapshot Endpoint)
{
    public override string ToString() =>
        $"judge: {Requests} requests, {Calls} calls, {CacheHits} cache hits, {Ones} × 1, {Zeros} × 0, " +
        $"{ParseFailures} parse failures, {EndpointFailures} endpoint failures, {FallbackScores} scored by fallback; endpoint: {Endpoint}";
}

/// <summary>
/// RIL's answer reward a_i = Judge(q, ground truth, o_i) ∈ {0, 1} (docs/spec/RIL.md "Reward for each of the 2G
/// responses"): an LLM over an OpenAI-compatible endpoint, asked with <see cref="JudgePrompt"/>, its verdicts
/// cached by <see cref="JudgeCache"/>. Never throws for the judge's faults: a missing verdict is counted
/// and scored by <see cref="JudgeFailurePolicy"/>, so a training run never stops for it.
/// </summary>
public sealed class LlmJudge : IRewardFunction
{
    readonly EndpointClient _endpoint;
    readonly JudgeCache _cache;
    readonly JudgeFailurePolicy _onFailure;
    readonly AnswerReward _fallback;
    readonly ConcurrentDictionary<string, Task<JudgeVerdict>> _inFlight = new(StringComparer.Ordinal);
    long _requests, _calls, _hits, _parseFailures, _endpointFailures, _fallbacks, _ones, _zeros;

    public LlmJudge(EndpointClient endpoint, JudgeCache cache, JudgeFailurePolicy onFailure = JudgeFailurePolicy.ScoreZero, AnswerReward? fallback = null)
    {
        _endpoint = endpoint; _cache = cache; _onFailure = onFailure; _fallback = fallback ?? new AnswerReward();
    }

    public string Name => "judge";

    public string Model => _endpoint.Options.Model;

    public JudgeStatisticsSnapshot Statistics => new(
        Interlocked.Read(ref _requests), Interlocked.Read(ref _calls), Interlocked.Read(ref _hits),
        Interlocked.Read(ref _parseFailures), Interlocked.Read(ref _endpointFailures), Interlocked.Read(ref _fallbacks),
        Interlocked.Read(ref _ones), Interlocked.Read(ref _zeros), _endpoint.Statistics.Snapshot());

    public async Task<float[]> ScoreAsync(IReadOnlyList<RewardInput> batch, CancellationToken cancellation = default)
    {
        var verdicts = await Task.WhenAll(batch.Select(input => JudgeAsync(input.Question, input.GroundTruth, input.Response, cancellation))).ConfigureAwait(false);
        return verdicts.Select(v => v.Score).ToArray();
    }

    /// <summary>The verdict on one response: from the cache, from a request already in flight, or from the judge.</summary>
    public async Task<JudgeVerdict> JudgeAsync(string question, string groundTruth, string response, CancellationToken cancellation = default)
    {
        Interlocked.Increment(ref _requests);
        question = JudgePrompt.TextOnly(question);
        var key = JudgeCache.Key(Model, question, groundTruth, response);
        if (_cache.TryGet(key, out var cached))
        {
            Interlocked.Increment(ref _hits);
            return new(cached.Verdict, JudgeVerdictSource.Cached, cached.Reply);
        }
        var ours = new TaskCompletionSource<JudgeVerdict>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = _inFlight.GetOrAdd(key, ours.Task);
        if (running != ours.Task)
        {
            Interlocked.Increment(ref _hits);
            var shared = await running.WaitAsync(cancellation).ConfigureAwait(false);
            return shared.Source == JudgeVerdictSource.Judged ? shared with { Source = JudgeVerdictSource.Cached } : shared;
        }
        try
        {
            // The cache may have been filled between the look-up and claiming the key.
            if (_cache.TryGet(key, out cached))
            {
                Interlocked.Increment(ref _hits);
                var verdict = new JudgeVerdict(cached.Verdict, JudgeVerdictSource.Cached, cached.Reply);
                ours.SetResult(verdict);
                return verdict;
            }
            var result = await AskAsync(key, question, groundTruth, response, cancellation).ConfigureAwait(false);
            ours.SetResult(result);
            return result;
        }
        catch (Exception e)
        {
            ours.TrySetException(e);
            throw;
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<string, Task<JudgeVerdict>>(key, ours.Task));
        }
    }

    async Task<JudgeVerdict> AskAsync(string key, string question, string groundTruth, string response, CancellationToken cancellation)
    {
        Interlocked.Increment(ref _calls);
        var reply = await _endpoint.CompleteAsync(JudgePrompt.Messages(question, groundTruth, response), cancellation).ConfigureAwait(false);
        if (!reply.Succeeded)
        {
            Interlocked.Increment(ref _endpointFailures);
            return Fail(JudgeVerdictSource.EndpointFailure, null, reply.Error, groundTruth, response);
        }
        if (JudgePrompt.ParseVerdict(reply.Text!) is not { } verdict)
        {
            Interlocked.Increment(ref _parseFailures);
            return Fail(JudgeVerdictSource.ParseFailure, reply.Text, "the reply has no <answer>0</answer> or <answer>1</answer>", groundTruth, response);
        }
        _cache.Add(new JudgeCacheEntry(key, Model, verdict, reply.Text!));
        if (verdict == 1) Interlocked.Increment(ref _ones); else Interlocked.Increment(ref _zeros);
        return new(verdict, JudgeVerdictSource.Judged, reply.Text);
    }

    JudgeVerdict Fail(JudgeVerdictSource source, string? reply, string? error, string groundTruth, string response)
    {
        float score = 0;
        if (_onFailure == JudgeFailurePolicy.FallBackToVerifier)
        {
            Interlocked.Increment(ref _fallbacks);
            score = _fallback.Score(groundTruth, response);
        }
        return new(score, source, reply, error);
    }
}

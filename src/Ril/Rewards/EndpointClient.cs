using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;

namespace Ril.Rewards;

/// <summary>
/// An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, SGLang, `ril serve`) and how to call it:
/// sampling settings, concurrency, per-request timeout and the retry schedule.
/// </summary>
public sealed record EndpointOptions
{
    /// <summary>The API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (requests go to {BaseUrl}/chat/completions).</summary>
    public required Uri BaseUrl { get; init; }
    public required string Model { get; init; }
    /// <summary>Environment variable holding the API key. When unset, a placeholder key is sent (local servers ignore it).</summary>
    public string ApiKeyVariable { get; init; } = "OPENAI_API_KEY";
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? MaxTokens { get; init; }
    /// <summary>Requests in flight at once against this endpoint.</summary>
    public int MaxConcurrency { get; init; } = 4;
    /// <summary>One attempt's limit, from sending to the last byte of the reply.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>Attempts per call, the first included; a call that fails this many times is reported failed, not thrown.</summary>
    public int MaxAttempts { get; init; } = 6;
    /// <summary>Backoff before retry k (k = 1, 2, …) is uniform in [0, min(BackoffMax, BackoffBase·2^(k−1))] ("full jitter").</summary>
    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Largest reply body read; a longer one fails the attempt instead of being held in memory whole.</summary>
    public long MaxReplyBytes { get; init; } = 16L << 20;
    /// <summary>A server's Retry-After is honoured up to this long (a misconfigured server must not stall a run for hours).</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(5);

    public void Validate()
    {
        if (!BaseUrl.IsAbsoluteUri || BaseUrl.Scheme is not ("http" or "https")) throw new ArgumentException($"endpoint URL must be absolute http(s): {BaseUrl}");
        if (string.IsNullOrWhiteSpace(Model)) throw new ArgumentException("endpoint model name is empty");
        if (MaxConcurrency < 1) throw new ArgumentException($"concurrency must be at least 1 (got {MaxConcurrency})");
        if (MaxAttempts < 1) throw new ArgumentException($"attempts must be at least 1 (got {MaxAttempts})");
        if (MaxReplyBytes < 1) throw new ArgumentException($"the reply limit must be at least 1 byte (got {MaxReplyBytes})");
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentException($"request timeout must be positive (got {RequestTimeout})");
        if (BackoffBase < TimeSpan.Zero || BackoffMax < BackoffBase) throw new ArgumentException($"backoff must satisfy 0 ≤ base ≤ max (got {BackoffBase}, {BackoffMax})");
    }
}

/// <summary>The outcome of one call: the reply text, or why there is none after all attempts.</summary>
public sealed record EndpointReply(string? Text, string? FinishReason, int Attempts, TimeSpan Latency, string? Error, int? OutputTokens = null)
{
    public bool Succeeded => Text != null;
}

/// <summary>Counts for one endpoint; attempts are HTTP requests sent, calls are what callers asked for.</summary>
public sealed record EndpointStatisticsSnapshot(
    long Calls, long Succeeded, long Failed, long Attempts, long Retries,
    long RateLimited, long ServerErrors, long Timeouts, long InvalidReplies, long NetworkErrors, long ClientErrors,
    double MeanLatencySeconds, double MaxLatencySeconds, int MaxInFlight)
{
    public override string ToString() =>
        FormattableString.Invariant($"{Calls} calls ({Succeeded} ok, {Failed} failed), {Attempts} requests, {Retries} retries ") +
        FormattableString.Invariant($"[429: {RateLimited}, 5xx: {ServerErrors}, timeouts: {Timeouts}, invalid: {InvalidReplies}, network: {NetworkErrors}, other 4xx: {ClientErrors}], ") +
        FormattableString.Invariant($"latency mean {MeanLatencySeconds:F2}s max {MaxLatencySeconds:F2}s, at most {MaxInFlight} in flight");
}

/// <summary>Thread-safe counters behind <see cref="EndpointStatisticsSnapshot"/>.</summary>
public sealed class EndpointStatistics
{
    long _calls, _succeeded, _failed, _attempts, _retries, _rateLimited, _serverErrors, _timeouts, _invalid, _network, _client;
    long _latencyTicks, _maxLatencyTicks;
    int _inFlight, _maxInFlight;

    internal void Call() => Interlocked.Increment(ref _calls);
    internal void Attempt() => Interlocked.Increment(ref _attempts);
    internal void Retry() => Interlocked.Increment(ref _retries);
    internal void Failed() => Interlocked.Increment(ref _failed);

    internal void Succeeded(TimeSpan latency)
    {
        Interlocked.Increment(ref _succeeded);
        Interlocked.Add(ref _latencyTicks, latency.Ticks);
        long seen;
        while (latency.Ticks > (seen = Interlocked.Read(ref _maxLatencyTicks)) && Interlocked.CompareExchange(ref _maxLatencyTicks, latency.Ticks, seen) != seen) { }
    }

    internal void Problem(AttemptProblem problem)
    {
        switch (problem)
        {
            case AttemptProblem.RateLimited: Interlocked.Increment(ref _rateLimited); break;
            case AttemptProblem.ServerError: Interlocked.Increment(ref _serverErrors); break;
            case AttemptProblem.Timeout: Interlocked.Increment(ref _timeouts); break;
            case AttemptProblem.InvalidReply: Interlocked.Increment(ref _invalid); break;
            case AttemptProblem.Network: Interlocked.Increment(ref _network); break;
            case AttemptProblem.ClientError: Interlocked.Increment(ref _client); break;
        }
    }

    internal void Enter()
    {
        int now = Interlocked.Increment(ref _inFlight);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
    }

    internal void Leave() => Interlocked.Decrement(ref _inFlight);

    public EndpointStatisticsSnapshot Snapshot()
    {
        long succeeded = Interlocked.Read(ref _succeeded);
        return new(Interlocked.Read(ref _calls), succeeded, Interlocked.Read(ref _failed), Interlocked.Read(ref _attempts),
            Interlocked.Read(ref _retries), Interlocked.Read(ref _rateLimited), Interlocked.Read(ref _serverErrors),
            Interlocked.Read(ref _timeouts), Interlocked.Read(ref _invalid), Interlocked.Read(ref _network), Interlocked.Read(ref _client),
            succeeded == 0 ? 0 : TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks) / succeeded).TotalSeconds,
            TimeSpan.FromTicks(Interlocked.Read(ref _maxLatencyTicks)).TotalSeconds, Volatile.Read(ref _maxInFlight));
    }
}

/// <summary>Why an attempt failed; all but <see cref="ClientError"/> are worth another attempt.</summary>
internal enum AttemptProblem { None, RateLimited, ServerError, Timeout, InvalidReply, Network, ClientError }

/// <summary>
/// Calls an OpenAI-compatible chat endpoint through the official <c>OpenAI</c> package, with the one retry
/// policy both the judge and the teacher collector use: bounded concurrency, a timeout per attempt,
/// exponential backoff with full jitter on 429, 5xx, timeouts, network errors and unreadable replies,
/// and a server's Retry-After (seconds or HTTP date) honoured. The package's own retries are switched off,
/// so every HTTP request is one counted attempt. The package builds and sends the request (its protocol
/// method: endpoint, key, errors as <see cref="ClientResultException"/>); the reply is read here, leniently.
/// A call never throws for an endpoint failure: it returns a failed <see cref="EndpointReply"/> (only the
/// caller's cancellation throws).
/// </summary>
public sealed class EndpointClient : IDisposable
{
    readonly ChatClient _chat;
    readonly HttpClient _http;
    readonly SemaphoreSlim _slots;
    readonly Random _jitter;

    public EndpointOptions Options { get; }
    public EndpointStatistics Statistics { get; } = new();

    public EndpointClient(EndpointOptions options, int? jitterSeed = null)
    {
        options.Validate();
        Options = options;
        _slots = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _jitter = jitterSeed is { } seed ? new Random(seed) : new Random();
        // Our own HttpClient: no 100-second default timeout, enough pooled connections for the concurrency.
        _http = new HttpClient(new ReplyLimit(options.MaxReplyBytes)
        {
            InnerHandler = new SocketsHttpHandler { MaxConnectionsPerServer = Math.Max(options.MaxConcurrency, 2), PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
        }) { Timeout = Timeout.InfiniteTimeSpan };
        var key = Environment.GetEnvironmentVariable(options.ApiKeyVariable);
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = options.BaseUrl,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            // A safety net only: our per-attempt token fires first.
            NetworkTimeout = options.RequestTimeout + TimeSpan.FromSeconds(30),
            Transport = new HttpClientPipelineTransport(_http),
        };
        _chat = new ChatClient(options.Model, new ApiKeyCredential(string.IsNullOrEmpty(key) ? "unused" : key), clientOptions);
    }

    /// <summary>Sends <paramref name="messages"/> until a reply arrives or the attempts run out.</summary>
    public async Task<EndpointReply> CompleteAsync(IReadOnlyList<ChatMessage> messages, CancellationToken cancellation = default)
    {
        Statistics.Call();
        var payload = RequestPayload(messages);
        var clock = Stopwatch.StartNew();
        string lastError = "no attempt made";
        for (int attempt = 1; ; attempt++)
        {
            TimeSpan? retryAfter = null;
            AttemptProblem problem;
            await _slots.WaitAsync(cancellation).ConfigureAwait(false);
            Statistics.Enter();
            Statistics.Attempt();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(Options.RequestTimeout);
            try
            {
                using var body = BinaryContent.Create(payload);
                var result = await _chat.CompleteChatAsync(body, new RequestOptions { CancellationToken = timeout.Token }).ConfigureAwait(false);
                var reply = ReadReply(result.GetRawResponse().Content);
                if (reply.Text is { Length: > 0 })
                {
                    Statistics.Succeeded(clock.Elapsed);
                    return new(reply.Text, reply.FinishReason, attempt, clock.Elapsed, null, reply.OutputTokens);
                }
                problem = AttemptProblem.InvalidReply;
                lastError = reply.Problem ?? "the reply has no text";
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException)
            {
                problem = AttemptProblem.Timeout;
                lastError = $"no reply within {Options.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s";
            }
            catch (ClientResultException e) when (e.Status != 0)
            {
                problem = e.Status == 429 ? AttemptProblem.RateLimited
                    : e.Status >= 500 || e.Status is 408 or 409 or 425 ? AttemptProblem.ServerError
                    : AttemptProblem.ClientError;
                retryAfter = RetryAfter(e.GetRawResponse(), DateTimeOffset.UtcNow);
                lastError = Describe(e);
            }
            catch (Exception e) when (e is ClientResultException or HttpRequestException or IOException)
            {
                problem = AttemptProblem.Network;
                // "An error occurred while sending the request" says little; the innermost cause says what happened.
                var cause = e;
                while (cause.InnerException != null) cause = cause.InnerException;
                lastError = cause == e ? FirstLine(e.Message) : $"{FirstLine(e.Message)} ({FirstLine(cause.Message)})";
            }
            catch (Exception e)
            {
                // Anything else came from reading the reply (not JSON, not the chat-completion shape).
                problem = AttemptProblem.InvalidReply;
                lastError = $"unreadable reply ({e.GetType().Name}: {FirstLine(e.Message)})";
            }
            finally
            {
                Statistics.Leave();
                _slots.Release();
            }

            Statistics.Problem(problem);
            if (problem == AttemptProblem.ClientError || attempt >= Options.MaxAttempts)
            {
                Statistics.Failed();
                return new(null, null, attempt, clock.Elapsed, $"{lastError} (after {attempt} attempt{(attempt == 1 ? "" : "s")})");
            }
            Statistics.Retry();
            await Task.Delay(BackoffBefore(attempt, retryAfter), cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The request JSON: the package serialises the messages (text, images as data URLs) and the sampling
    /// settings under their API names; we add the model. Going through the package's protocol method keeps its
    /// endpoint, authentication and error handling while we read the reply ourselves (below).
    /// </summary>
    BinaryData RequestPayload(IReadOnlyList<ChatMessage> messages)
    {
        var settings = new ChatCompletionOptions { Temperature = Options.Temperature, TopP = Options.TopP, MaxOutputTokenCount = Options.MaxTokens };
        var body = JsonNode.Parse(ModelReaderWriter.Write(settings, ModelReaderWriterOptions.Json).ToString())!.AsObject();
        body["model"] = Options.Model;
        body["messages"] = new JsonArray(messages.Select(m => JsonNode.Parse(ModelReaderWriter.Write(m, ModelReaderWriterOptions.Json).ToString())).ToArray());
        return BinaryData.FromString(body.ToJsonString());
    }

    readonly record struct ParsedReply(string? Text, string? FinishReason, int? OutputTokens, string? Problem);

    /// <summary>
    /// The first choice's text, read leniently: OpenAI-compatible servers differ in details the package's typed
    /// reader rejects outright (a null or non-standard finish_reason such as "abort" or "eos"), and a reply is
    /// worth keeping whenever it has text. Content may be a string or an array of text parts.
    /// </summary>
    static ParsedReply ReadReply(BinaryData content)
    {
        try
        {
            using var json = JsonDocument.Parse(content);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("choices", out var choices) ||
                choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
                return new(null, null, null, "the reply has no choices");
            var choice = choices[0];
            string? finish = choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (choice.ValueKind != JsonValueKind.Object || !choice.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
                return new(null, finish, null, "the first choice has no message");
            string? text = null;
            if (message.TryGetProperty("content", out var body))
            {
                if (body.ValueKind == JsonValueKind.String) text = body.GetString();
                else if (body.ValueKind == JsonValueKind.Array)
                    text = string.Concat(body.EnumerateArray()
                        .Where(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
                        .Select(p => p.GetProperty("text").GetString()));
            }
            int? tokens = root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object &&
                          usage.TryGetProperty("completion_tokens", out var n) && n.TryGetInt32(out var count) ? count : null;
            return new(text, finish, tokens, string.IsNullOrEmpty(text) ? "the reply's message has no text" : null);
        }
        catch (JsonException e)
        {
            return new(null, null, null, $"the reply is not JSON ({FirstLine(e.Message)})");
        }
    }

    /// <summary>The wait before retry number <paramref name="failedAttempts"/>: the server's Retry-After when given, else full jitter.</summary>
    internal TimeSpan BackoffBefore(int failedAttempts, TimeSpan? retryAfter)
    {
        if (retryAfter is { } wait) return wait > Options.MaxRetryAfter ? Options.MaxRetryAfter : wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        double ceiling = Math.Min(Options.BackoffMax.TotalMilliseconds, Options.BackoffBase.TotalMilliseconds * Math.Pow(2, failedAttempts - 1));
        double draw;
        lock (_jitter) draw = _jitter.NextDouble();
        return TimeSpan.FromMilliseconds(draw * ceiling);
    }

    /// <summary>
    /// The server's requested wait: <c>retry-after-ms</c> (OpenAI's), else <c>Retry-After</c> as seconds or as
    /// an HTTP date; null when absent or unreadable.
    /// </summary>
    internal static TimeSpan? RetryAfter(PipelineResponse? response, DateTimeOffset now)
    {
        if (response == null) return null;
        if (response.Headers.TryGetValue("retry-after-ms", out var ms) &&
            double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds) && milliseconds >= 0)
            return TimeSpan.FromMilliseconds(milliseconds);
        return response.Headers.TryGetValue("Retry-After", out var value) ? ParseRetryAfter(value, now) : null;
    }

    /// <summary>Retry-After per RFC 9110 §10.2.3: delay-seconds or an HTTP date.</summary>
    public static TimeSpan? ParseRetryAfter(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        value = value.Trim();
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            return seconds >= 0 ? TimeSpan.FromSeconds(seconds) : null;
        if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) ||
            DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out date))
        {
            var wait = date - now;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    /// <summary>"HTTP 503 Service Unavailable: {the body's error message}", or "(empty body)": never the SDK's "HTTP 500 (: )".</summary>
    static string Describe(ClientResultException e)
    {
        var response = e.GetRawResponse();
        string status = $"HTTP {e.Status}{(string.IsNullOrWhiteSpace(response?.ReasonPhrase) ? "" : " " + response.ReasonPhrase)}";
        string body = "";
        try { body = response?.Content?.ToString().Trim() ?? ""; } catch (InvalidOperationException) { }   // a streamed body cannot be read again
        if (body.Length == 0) return status + " (empty body)";
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(body)?["error"] is { } error)
                body = (error is System.Text.Json.Nodes.JsonObject o ? o["message"]?.ToString() : error.ToString()) ?? body;
        }
        catch (System.Text.Json.JsonException) { }
        return $"{status}: {FirstLine(body)}";
    }

    static string FirstLine(string message)
    {
        var line = message.Split('\n', 2)[0].Trim();
        return line.Length > 200 ? line[..200] + "…" : line;
    }

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
    }
}

/// <summary>Fails a reply whose body is longer than the limit, by its Content-Length or as its bytes arrive.</summary>
sealed class ReplyLimit(long maxBytes) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellation)
    {
        var response = await base.SendAsync(request, cancellation).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength > maxBytes)
        {
            long length = response.Content.Headers.ContentLength!.Value;
            response.Dispose();
            throw new HttpRequestException($"the reply is {length} bytes, over the limit of {maxBytes}");
        }
        var limited = new StreamContent(new LimitedStream(await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false), maxBytes));
        foreach (var header in response.Content.Headers) limited.Headers.TryAddWithoutValidation(header.Key, header.Value);
        response.Content = limited;
        return response;
    }

    sealed class LimitedStream(Stream inner, long maxBytes) : Stream
    {
        long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellation = default) =>
            Count(await inner.ReadAsync(buffer, cancellation).ConfigureAwait(false));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }

        int Count(int n)
        {
            if ((_read += n) > maxBytes) throw new IOException($"the reply is over the limit of {maxBytes} bytes");
            return n;
        }
    }
}

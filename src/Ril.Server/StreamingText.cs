namespace Ril.Server;

/// <summary>
/// One reply's text as its tokens arrive, in pieces that never need taking back. It holds back what may still change:
/// a character cut inside its UTF-8 bytes (decoded as U+FFFD until the rest arrives) and the last
/// (longest stop string − 1) characters, which a stop string completed by a later token would cut away. The final text
/// (<see cref="Finish"/>) is the generator's own, so the pieces always add up to the non-streamed reply.
/// </summary>
internal sealed class StreamingText(Func<int[], string> decode, IReadOnlyList<string> stops)
{
    readonly List<int> _tokens = [];
    readonly int _holdBack = stops.Count == 0 ? 0 : stops.Max(s => s.Length) - 1;
    int _sent;

    /// <summary>The text that became safe to send with this token; often empty.</summary>
    public string Add(int token)
    {
        _tokens.Add(token);
        var text = decode([.. _tokens]);
        int safe = text.Length;
        while (safe > _sent && text[safe - 1] == '\uFFFD') safe--;
        safe -= _holdBack;
        if (safe <= _sent) return "";
        var piece = text[_sent..safe];
        _sent = safe;
        return piece;
    }

    /// <summary>The rest of the reply, given its final text.</summary>
    public string Finish(string? final)
    {
        if (final is null || final.Length <= _sent) return "";
        var rest = final[_sent..];
        _sent = final.Length;
        return rest;
    }
}

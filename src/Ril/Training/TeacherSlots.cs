using Ril.Data;
using Ril.Models;
using Ril.Models.Generation;

namespace Ril.Training;

/// <summary>
/// The teacher half of a RIL group (Algorithm 2, step 3): G cached teacher responses per question, spread across the
/// chosen teachers by the configured policy (docs/spec/RIL.md, "Multiple teachers": round-robin by default), turned into
/// rollouts the policy can score: the text tokenised with the student's tokenizer, the end-of-turn token appended,
/// cut to L. A cut response keeps only the text of its first L tokens (its rewards and D see what the policy trains on).
/// Draws depend only on the seed, the step and the question's place, so a resumed run draws the same responses.
/// </summary>
public sealed class TeacherSlots
{
    readonly TeacherCache _cache;
    readonly ChatModel _policy;
    readonly int _maxTokens;

    public TeacherSampling Sampling { get; }
    public IReadOnlyDictionary<string, int>? Quota { get; }
    public IReadOnlyCollection<string> Teachers => _cache.Teachers;

    /// <param name="teachers">The teachers to draw from (the ablation of one teacher against several); all of the cache's when null.</param>
    public TeacherSlots(TeacherCache cache, ChatModel policy, int maxTokens, TeacherSampling sampling = TeacherSampling.RoundRobin,
        IReadOnlyDictionary<string, int>? quota = null, IReadOnlyCollection<string>? teachers = null)
    {
        cache = cache.Only(teachers);
        if (sampling == TeacherSampling.FixedQuota && quota is null) throw new ArgumentException("the fixed-quota teacher policy needs a quota per teacher");
        (_cache, _policy, _maxTokens, Sampling, Quota) = (cache, policy, maxTokens, sampling, quota);
    }

    /// <summary><paramref name="count"/> teacher rollouts for each question, grouped by question in question order.</summary>
    public List<Rollout> Take(IReadOnlyList<Question> questions, int count, ulong seed, int step)
    {
        var rollouts = new List<Rollout>(questions.Count * count);
        for (int q = 0; q < questions.Count; q++)
        {
            var random = new Random(Data.Synth.StableSeed.Mix((long)seed, step, questions[q].BatchIndex ?? q, Data.Synth.StableSeed.Of(questions[q].Row.Id)));
            foreach (var response in _cache.Sample(questions[q].Row.Id, count, Sampling, random, Quota))
                rollouts.Add(ToRollout(q, response));
        }
        return rollouts;
    }

    /// <summary>A cached response as a rollout of question <paramref name="question"/>.</summary>
    public Rollout ToRollout(int question, TeacherResponse response)
    {
        int[] tokens = [.. _policy.Tokenizer.Encode(response.Response), .. _policy.StopTokens.Take(1)];
        if (tokens.Length <= _maxTokens) return new Rollout(question, response.Teacher, tokens, response.Response, GeneratedSequence.Stop);
        var cut = tokens[.._maxTokens];
        return new Rollout(question, response.Teacher, cut, _policy.Decode(cut), GeneratedSequence.Length);
    }
}

using Ril.Models;
using Ril.Rewards;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;
using Ril.Text;

namespace Ril.Training;

/// <summary>What the discriminator sees (docs/spec/RIL.md, "The discriminator prompt", Decision): the response alone, or the question too.</summary>
public enum DiscriminatorInput { Response, QuestionAndResponse }

/// <summary>One response for the discriminator: its question, its text and who wrote it ("student" or a teacher's name).</summary>
public sealed record DiscriminatorExample(string Question, string Response, string Source)
{
    /// <summary>Eq. 1's label: student = 1, teacher = 0.</summary>
    public float Label => IsTeacher ? 0f : 1f;
    public bool IsTeacher => Source != Rollout.Student;
}

/// <summary>
/// RIL's discriminator D_φ (docs/spec/RIL.md): the student's decoder with its LM head replaced by a linear d→1 head read at
/// the prompt's last token, D = sigmoid(score) = the probability that a response is the student's. It starts from the
/// student's weights (the SFT checkpoint) and sees the response inside its own prompt, tokenised with the student's
/// tokenizer and chat template; the image is not given to it.
/// </summary>
public sealed class Discriminator : IResponseDiscriminator
{
    /// <summary>The system turn, restating the paper's Fig. 3: judge whether the response was written by the teacher (0) or the student (1).</summary>
    public const string SystemPrompt =
        "You are a discriminator. You will see a response inside <response> tags. Decide whether it was written by the " +
        "teacher model or by the student model. Output 0 if it was written by the teacher and 1 if it was written by the student.";

    const string Slot = "\u0001RESPONSE\u0001";

    public ScalarHeadModel Model { get; }
    /// <summary>The student's processor: D's prompt is written in the student's chat format and tokenised by its tokenizer.</summary>
    public IProcessor Processor { get; }
    public BpeTokenizer Tokenizer => Processor.Tokenizer;
    public DiscriminatorInput Input { get; }
    /// <summary>The most response tokens D reads (longer responses are cut, student's and teacher's alike).</summary>
    public int MaxResponseTokens { get; }
    /// <summary>Rows per forward when scoring.</summary>
    public int MicroBatchSize { get; init; } = 16;

    public Discriminator(ScalarHeadModel model, IProcessor processor, DiscriminatorInput input, int maxResponseTokens)
    {
        if (maxResponseTokens < 1) throw new ArgumentException("Discriminator: the response limit must be at least one token");
        (Model, Processor, Input, MaxResponseTokens) = (model, processor, input, maxResponseTokens);
    }

    /// <summary>A discriminator with the student's architecture and a copy of its decoder's weights; the scalar head starts at N(0, 0.02²).</summary>
    public static Discriminator FromStudent(ChatModel student, Rng rng, DiscriminatorInput input, int maxResponseTokens) =>
        new(new ScalarHeadModel(student.Model.LanguageModel(shareWeights: false, rng), rng), student.Processor, input, maxResponseTokens);

    /// <summary>
    /// A discriminator over the student's own frozen base (<see cref="ICausalLM.LanguageModel"/> sharing weights: no copy) that trains
    /// LoRA adapters of its own and its scalar head. The student must train through adapters too, so the shared base
    /// never moves; RIL starts D from the student's weights, which is exactly this base.
    /// </summary>
    public static Discriminator FromStudentWithLora(ChatModel student, LoraConfig lora, Rng rng, DiscriminatorInput input, int maxResponseTokens)
    {
        if (student.Model.Adapters is null)
            throw new InvalidOperationException("Discriminator: sharing the student's base needs the student to train through LoRA adapters (its base must stay frozen)");
        var backbone = student.Model.LanguageModel(shareWeights: true, rng);
        var model = new ScalarHeadModel(backbone, rng);
        backbone.AttachLora(lora, rng);
        return new Discriminator(model, student.Processor, input, maxResponseTokens);
    }

    /// <summary>D's LoRA adapters when it trains through them (<see cref="FromStudentWithLora"/>); null when it trains in full.</summary>
    public LoraAdapters? Adapters => Model.Backbone.Adapters;

    /// <summary>What D trains: every parameter, or with adapters only their A and B and the scalar head.</summary>
    public IEnumerable<Tensor> Parameters() => Adapters is null ? Model.Parameters() : Adapters.Parameters().Append(Model.Score);

    /// <summary>
    /// Writes DIR/config.json (the input, the response limit, and <paramref name="report"/> when given) and
    /// DIR/model.safetensors (the backbone with "score.weight"), each atomically. The architecture is the student's.
    /// </summary>
    public void Save(string dir, System.Text.Json.Nodes.JsonNode? report = null)
    {
        if (Adapters is not null)
            throw new InvalidOperationException("Discriminator.Save: a LoRA discriminator is saved as its adapters and head: PeftAdapter.Save(dir, d.Adapters, PeftAdapter.SequenceClassification, modulesToSave: [d.Model.Score])");
        Checkpoint.Save(dir, new System.Text.Json.Nodes.JsonObject
        {
            ["architecture"] = "ril-discriminator", ["input"] = Input == DiscriminatorInput.Response ? "response" : "question_and_response",
            ["max_response_tokens"] = MaxResponseTokens, ["backbone"] = Model.Backbone.ConfigJson(),
            ["report"] = report,
        }, Parameters());
    }

    /// <summary>A discriminator saved by <see cref="Save"/>, with the student's architecture and tokenizer.</summary>
    public static Discriminator Load(string dir, ChatModel student)
    {
        var configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{dir}: not a discriminator folder (no config.json; `ril disc pretrain` writes one)", configPath);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        if ((string?)config["architecture"] != "ril-discriminator") throw new InvalidDataException($"{configPath}: field 'architecture' is not 'ril-discriminator'");
        var input = (string?)config["input"] switch
        {
            "response" => DiscriminatorInput.Response,
            "question_and_response" => DiscriminatorInput.QuestionAndResponse,
            var other => throw new InvalidDataException($"{configPath}: field 'input': '{other}' is neither response nor question_and_response"),
        };
        var d = FromStudent(student, new Rng(0), input, (int?)config["max_response_tokens"] ?? throw new InvalidDataException($"{configPath}: field 'max_response_tokens' is missing"));
        var path = Path.Combine(dir, "model.safetensors");
        var unused = Checkpoint.LoadInto(d.Parameters(), Checkpoint.ReadTensors(path), path);
        if (unused.Count > 0) throw new InvalidDataException($"{path}: tensors the student's architecture does not have: {string.Join(", ", unused.Take(5))}");
        return d;
    }

    /// <summary>The discriminator's prompt around a response (cut to <see cref="MaxResponseTokens"/>), ending with an open assistant turn.</summary>
    public int[] Encode(string question, string response)
    {
        var (before, after) = Frame(question);
        var body = Tokenizer.Encode(response);
        return [.. before, .. body.Length > MaxResponseTokens ? body[..MaxResponseTokens] : body, .. after];
    }

    /// <summary>The tokens of D's prompt before and after the response (the system turn and the question come before it).</summary>
    public (int[] Before, int[] After) Frame(string question)
    {
        string user = (Input == DiscriminatorInput.QuestionAndResponse ? $"<question>{question}</question>\n" : "") +
                      $"<response>{Slot}</response>\nWas this response written by the teacher (0) or the student (1)? Answer 0 or 1.";
        var text = Processor.Render([ChatMessage.System(SystemPrompt), ChatMessage.User(user)]);
        int at = text.IndexOf(Slot, StringComparison.Ordinal);
        return (Tokenizer.Encode(text[..at]), Tokenizer.Encode(text[(at + Slot.Length)..]));
    }

    /// <summary>
    /// Whether a forward lays the prompt its rows share (the system turn, and the question when every row has the same)
    /// once instead of once per row (`discriminator.share_prefix`; <see cref="ScalarHeadModel.Forward(IReadOnlyList{int[]}, int, bool)"/>).
    /// </summary>
    public bool SharePrefix { get; set; }

    /// <summary>Scores (logits of D) [B] of one batch, with gradient when one is being recorded.</summary>
    public Tensor Logits(IReadOnlyList<DiscriminatorExample> batch) =>
        Model.Forward(batch.Select(e => Encode(e.Question, e.Response)).ToList(), Processor.PadId, SharePrefix);

    /// <summary>
    /// Eq. 1 as a loss to minimise: mean binary cross-entropy of scores [B] against labels (student 1, teacher 0),
    /// −[y·log σ(s) + (1 − y)·log(1 − σ(s))], computed stably as a two-way log-softmax over [0, s].
    /// </summary>
    public static Tensor Loss(Tensor scores, ReadOnlySpan<float> labels, float scale = 1f)
    {
        int b = scores.Length;
        if (labels.Length != b) throw new ArgumentException($"Discriminator.Loss: {labels.Length} labels for {b} scores");
        var twoWay = Ops.Concat([Tensor.Zeros(b, 1), Ops.Reshape(scores, b, 1)], 1);          // logits of (teacher, student)
        var targets = new int[b];
        for (int i = 0; i < b; i++) targets[i] = labels[i] switch { 1f => 1, 0f => 0, _ => throw new ArgumentException($"Discriminator.Loss: label {labels[i]} is neither 1 (student) nor 0 (teacher)") };
        return Ops.MulScalar(Ops.SumAll(Ops.SelectedLogProbs(twoWay, targets)), -scale / b);
    }

    /// <summary>D = sigmoid(score) for each example, with no gradient.</summary>
    public float[] Probabilities(IReadOnlyList<DiscriminatorExample> examples)
    {
        var result = new float[examples.Count];
        using (NoGrad.Begin())
            for (int start = 0; start < examples.Count; start += MicroBatchSize)
            {
                using var scope = TensorScope.Begin();
                int n = Math.Min(MicroBatchSize, examples.Count - start);
                var scores = Logits(examples.Skip(start).Take(n).ToList()).ToArray();
                for (int i = 0; i < n; i++) result[start + i] = 1f / (1f + MathF.Exp(-scores[i]));
            }
        return result;
    }

    /// <summary>The reward pipeline's view: D for each scored response (its source does not matter to D).</summary>
    public float[] StudentProbability(IReadOnlyList<RewardInput> batch) =>
        Probabilities(batch.Select(b => new DiscriminatorExample(b.Question, b.Response, Rollout.Student)).ToList());
}

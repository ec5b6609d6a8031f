using System.ClientModel;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;
using Ril.Data;
using Ril.Data.Images;
using Ril.Data.Teachers;
using Ril.Rewards;

namespace Ril.Server.Tests;

/// <summary>
/// Ril's own clients and the official OpenAI package against `ril serve` over real HTTP. The tiny model is random,
/// so its replies are noise: these tests check the plumbing (requests accepted, replies read, counts right).
/// </summary>
public sealed class ClientTests : IAsyncLifetime
{
    TinyServer _tiny = null!;
    readonly string _folder = Directory.CreateTempSubdirectory("ril-serve-clients-").FullName;

    public async Task InitializeAsync() => _tiny = await TinyServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _tiny.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    EndpointOptions Endpoint(float? temperature) => new()
    {
        BaseUrl = _tiny.Server.BaseUrl,
        Model = _tiny.Server.ModelName,
        ApiKeyVariable = "RIL_TEST_NO_SUCH_KEY",
        Temperature = temperature,
        MaxTokens = 12,
        MaxConcurrency = 4,
        RequestTimeout = TimeSpan.FromSeconds(30),
        MaxAttempts = 3,
        BackoffBase = TimeSpan.FromMilliseconds(10),
        BackoffMax = TimeSpan.FromMilliseconds(50),
    };

    [Fact]
    public async Task The_judge_gets_replies_and_scores_unparsable_verdicts_by_its_policy()
    {
        using var endpoint = new EndpointClient(Endpoint(temperature: 0));
        using var cache = JudgeCache.InMemory();
        var judge = new LlmJudge(endpoint, cache, JudgeFailurePolicy.FallBackToVerifier);
        var inputs = new[]
        {
            new RewardInput("q1", "<image>Find the perimeter.", "12", "The sides add up to \\boxed{12}."),
            new RewardInput("q1", "<image>Find the perimeter.", "12", "I think it is \\boxed{13}."),
            new RewardInput("q2", "What is 2 + 3?", "5", "\\boxed{5}"),
            new RewardInput("q3", "Name the shape.", "circle", "A square."),
        };

        var verdicts = await Task.WhenAll(inputs.Select(i => judge.JudgeAsync(i.Question, i.GroundTruth, i.Response)));

        var stats = judge.Statistics;
        Assert.Equal(4, stats.Calls);
        Assert.Equal(0, stats.EndpointFailures);
        Assert.Equal(0, stats.Endpoint.Failed);
        Assert.Equal(4, stats.ParseFailures + stats.Ones + stats.Zeros);
        // A random model seldom writes <answer>0</answer> or <answer>1</answer>: such a reply is scored by the verifier.
        var verifier = new AnswerReward();
        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.False(string.IsNullOrEmpty(verdicts[i].Reply));
            if (verdicts[i].Source == JudgeVerdictSource.ParseFailure)
                Assert.Equal(verifier.Score(inputs[i].GroundTruth, inputs[i].Response), verdicts[i].Score);
        }
        Assert.True(_tiny.Server.Statistics.Requests >= 4);
    }

    [Fact]
    public async Task The_teacher_collector_caches_n_responses_per_question_with_images_sent_as_data_urls()
    {
        var picture = new Image(5, 4, 3, Enumerable.Range(0, 60).Select(i => (byte)(i * 4)).ToArray());
        Directory.CreateDirectory(Path.Combine(_folder, "images"));
        File.WriteAllBytes(Path.Combine(_folder, "images", "q0.png"), PngEncoder.Encode(picture));
        var lines = Enumerable.Range(0, 3).Select(i => new JsonObject
        {
            ["id"] = $"q{i}",
            ["question"] = i == 0 ? "<image>How many red pixels?" : $"Question {i}: find x.",
            ["answer"] = $"{i}",
            ["solution"] = $"\\boxed{{{i}}}",
            ["image"] = i == 0 ? "images/q0.png" : "",
        }.ToJsonString());
        var dataset = Path.Combine(_folder, "questions.jsonl");
        File.WriteAllLines(dataset, lines);
        var rows = JsonlDataset.Load(dataset);
        var cachePath = Path.Combine(_folder, "teachers.jsonl");
        var teacher = HttpTeacher.Parse($"tiny={_tiny.Server.BaseUrl},{_tiny.Server.ModelName}", Endpoint(temperature: 1));

        var report = await new HttpTeacherCollector([teacher]).CollectAsync(rows, perTeacher: 3, cachePath);

        Assert.Equal(9, report.Requested);
        Assert.Equal(9, report.Collected);
        Assert.Equal(0, report.Failed);
        var cache = TeacherCache.Load(cachePath);
        foreach (var row in rows) Assert.Equal(3, cache.Get(row.Id, "tiny").Count);
        Assert.Contains(" 200 ", _tiny.Log);
        // Rerunning asks for nothing: the cache already has three per question.
        var again = await new HttpTeacherCollector([teacher]).CollectAsync(rows, perTeacher: 3, cachePath);
        Assert.Equal(0, again.Requested);
    }

    ChatClient Chat() => new(_tiny.Server.ModelName, new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = _tiny.Server.BaseUrl, NetworkTimeout = TimeSpan.FromSeconds(60) });

#pragma warning disable OPENAI001   // Seed is marked experimental in the package
    static ChatCompletionOptions Sampling() => new() { Temperature = 0.8f, TopP = 0.9f, MaxOutputTokenCount = 10, Seed = 42 };
#pragma warning restore OPENAI001

    static List<OpenAI.Chat.ChatMessage> Conversation()
    {
        var png = PngEncoder.Encode(new Image(3, 3, 3, Enumerable.Range(0, 27).Select(i => (byte)(i * 9)).ToArray()));
        return
        [
            new SystemChatMessage("You are a careful assistant."),
            new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(png), "image/png"),
                                ChatMessageContentPart.CreateTextPart("What colour is the top-left pixel?")),
        ];
    }

    [Fact]
    public async Task The_openai_package_completes_and_streams_and_the_stream_adds_up_to_the_completion()
    {
        var chat = Chat();
        ChatCompletion completion = await chat.CompleteChatAsync(Conversation(), Sampling());
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(_tiny.Server.ModelName, completion.Model);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.True(completion.Usage.InputTokenCount > 4);   // the image's four placeholder tokens and the text
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 10);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        var text = string.Concat(completion.Content.Select(p => p.Text));

        // The same seed alone in its call: the streamed pieces add up to the same reply.
        var streamed = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(Conversation(), Sampling()))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(completion.FinishReason, finish);
        Assert.NotNull(usage);
        Assert.Equal(completion.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public void The_openai_package_lists_the_model_and_reads_errors()
    {
        var models = new OpenAIModelClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _tiny.Server.BaseUrl });
        Assert.Equal([_tiny.Server.ModelName], models.GetModels().Value.Select(m => m.Id));
        Assert.Equal(_tiny.Server.ModelName, models.GetModel(_tiny.Server.ModelName).Value.Id);

        var wrong = new ChatClient("no-such-model", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _tiny.Server.BaseUrl });
        var error = Assert.Throws<ClientResultException>(() => wrong.CompleteChat([new UserChatMessage("hi")]));
        Assert.Equal(404, error.Status);
        Assert.Contains("no-such-model", error.Message);
    }
}

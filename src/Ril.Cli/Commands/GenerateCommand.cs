using System.CommandLine;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Text;

namespace Ril.Cli.Commands;

/// <summary>`ril generate`: one answer from a model directory (config.json, weights, tokenizer.json), with an optional image.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory: config.json, model.safetensors (or shards) and tokenizer.json", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The user's message", Required = true };
        var image = new Option<string?>("--image") { Description = "An image (PNG, JPEG, PPM) shown before the message; needs a model with a vision tower" };
        var system = new Option<string?>("--system") { Description = "A system message" };
        var raw = new Option<bool>("--raw") { Description = "Continue the prompt text as it is, without the ChatML template" };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 is greedy", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep only the k most likely tokens; 0 keeps all", DefaultValueFactory = _ => 0 };
        var penalty = new Option<float>("--repetition-penalty") { Description = "Above 1 discourages repeating tokens", DefaultValueFactory = _ => 1f };
        var maxTokens = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate", DefaultValueFactory = _ => 256 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed of the sampler", DefaultValueFactory = _ => 0UL };
        var command = new Command("generate", "Answer a prompt (and an image) with a model directory; prints the generated text.")
            { model, prompt, image, system, raw, temperature, topP, topK, penalty, maxTokens, seed };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var dir = parse.GetValue(model)!;
            var (vlm, config) = ModelDirectory.Load(dir);
            var tokenizer = BpeTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
            var template = new ChatTemplate { ImagePlaceholderCount = Math.Max(1, vlm.TokensPerImage) };
            var imagePath = parse.GetValue(image);
            var text = parse.GetValue(prompt)!;
            int[] ids;
            if (parse.GetValue(raw)) ids = tokenizer.Encode((imagePath is null ? "" : template.ImageText()) + text);
            else
            {
                var messages = new List<ChatMessage>();
                if (parse.GetValue(system) is { } s) messages.Add(ChatMessage.System(s));
                messages.Add(ChatMessage.User((imagePath is null ? "" : ChatTemplate.DefaultImageMarker) + text));
                ids = template.Encode(tokenizer, messages);
            }
            if (imagePath is not null && template.ImagePlaceholderId(tokenizer) != config.ImageTokenId)
                throw new InvalidDataException($"{dir}: config.json's image_token_id {config.ImageTokenId} is not the tokenizer's id of {template.ImagePlaceholder} ({template.ImagePlaceholderId(tokenizer)})");
            var stops = new List<int>();
            if (tokenizer.TokenToId(template.TurnEnd) is { } end) stops.Add(end);
            if (tokenizer.EosTokenId is { } eos) stops.Add(eos);
            var options = new SamplingOptions
            {
                Temperature = parse.GetValue(temperature), TopP = parse.GetValue(topP), TopK = parse.GetValue(topK),
                RepetitionPenalty = parse.GetValue(penalty), MaxNewTokens = parse.GetValue(maxTokens), StopTokens = stops,
            };
            var pixels = imagePath is null ? null : ModelDirectory.LoadPixels(imagePath, config);
            var generator = new Generator(vlm, t => tokenizer.Decode(t, skipSpecialTokens: true), tokenizer.PadTokenId ?? 0);
            var result = generator.Generate([new GenerationRequest(ids, 1, parse.GetValue(seed), pixels)], options)[0][0];
            Console.WriteLine(result.Text);
            return 0;
        }));
        return command;
    }
}

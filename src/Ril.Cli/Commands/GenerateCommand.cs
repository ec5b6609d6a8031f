using System.CommandLine;
using Ril.Data.Images;
using Ril.Hub;
using Ril.Models;
using Ril.Models.Generation;
using Ril.Text;

namespace Ril.Cli.Commands;

/// <summary>`ril generate`: one answer from a model directory (config.json, weights, tokenizer.json), with an optional image.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"Model: {ModelLocation.ArgumentDescription}, holding config.json, model.safetensors (or shards) and tokenizer.json", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The user's message", Required = true };
        var image = new Option<string?>("--image") { Description = "An image (PNG, JPEG, PPM) shown before the message; needs a model with a vision tower" };
        var system = new Option<string?>("--system") { Description = "A system message" };
        var raw = new Option<bool>("--raw") { Description = "Continue the prompt text as it is, without the ChatML template" };
        // Unset sampling options take the model's generation_config.json, else greedy decoding of up to 256 tokens.
        const string Default = " (default: the model's generation_config.json, else ";
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature; 0 is greedy" + Default + "0)" };
        var topP = new Option<float?>("--top-p") { Description = "Nucleus sampling mass" + Default + "1)" };
        var topK = new Option<int?>("--top-k") { Description = "Keep only the k most likely tokens; 0 keeps all" + Default + "0)" };
        var penalty = new Option<float?>("--repetition-penalty") { Description = "Above 1 discourages repeating tokens" + Default + "1)" };
        var maxTokens = new Option<int?>("--max-new-tokens") { Description = "Most tokens to generate" + Default + "256)" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed of the sampler", DefaultValueFactory = _ => 0UL };
        var command = new Command("generate", "Answer a prompt (and an image) with a model (a directory or a Hub id); prints the generated text.")
            { model, prompt, image, system, raw, temperature, topP, topK, penalty, maxTokens, seed };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var chat = ChatModel.Load(ModelArgument.Resolve(parse.GetValue(model)!), frozen: true);
            var imagePath = parse.GetValue(image);
            var images = imagePath is null ? new List<Image>() : [ImageFile.Load(imagePath)];
            var text = parse.GetValue(prompt)!;
            int[] ids;
            if (parse.GetValue(raw)) ids = chat.EncodeRaw(text, images.Count);
            else
            {
                var messages = new List<ChatMessage>();
                if (parse.GetValue(system) is { } s) messages.Add(ChatMessage.System(s));
                messages.Add(ChatMessage.User(text, images.Count));
                ids = chat.EncodeChat(messages);
            }
            var options = chat.Defaults.Resolve(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK), parse.GetValue(penalty),
                parse.GetValue(maxTokens), chat.StopTokens, new SamplingOptions { Temperature = 0f, MaxNewTokens = 256 });
            var request = chat.Request(ids, images, 1, parse.GetValue(seed));
            var result = chat.NewGenerator().Generate([request], options)[0][0];
            Console.WriteLine(result.Text);
            return 0;
        }));
        return command;
    }
}

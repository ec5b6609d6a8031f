using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Data.Images;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.RilVlm;

/// <summary>
/// Ril's own VLM layout (model_type "ril_vlm"): a SigLIP tower on square letterboxed images, Idefics3's pixel shuffle and
/// a LLaVA-style two-layer projector, a Llama/Qwen2 decoder under its plain names, 1-D positions, ChatML with a fixed
/// number of placeholders per image. What `ril sft --init` creates and the quickstart trains.
/// </summary>
public sealed class RilVlmFamily : IModelFamily
{
    public const string ModelType = "ril_vlm";
    public string Name => "ril_vlm";
    public IReadOnlyList<string> ModelTypes { get; } = [ModelType];

    public (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject json, string configPath, BpeTokenizer tokenizer, bool frozen = false)
    {
        var model = LoadModel(dir, json, configPath);
        return (model, Processor(model, tokenizer, HfChatTemplate.FromModelDirectory(dir)));
    }

    /// <summary>The model of a directory of this layout, every tensor in its place.</summary>
    public static VisionLanguageModel LoadModel(string dir)
    {
        var json = ModelFamilies.ReadConfig(dir, out var configPath);
        return LoadModel(dir, json, configPath);
    }

    static VisionLanguageModel LoadModel(string dir, JsonObject json, string configPath)
    {
        var model = VisionLanguageModel.Create(ParseConfig(json, configPath), new Rng(0));
        Checkpoint.LoadAll(model.Parameters(), dir);
        return model;
    }

    /// <summary>config.json of the layout, checked; errors name the file and the field.</summary>
    public static VlmConfig ParseConfig(JsonObject json, string configPath)
    {
        VlmConfig config;
        try
        {
            config = (json.Deserialize<VlmConfig>() ?? throw new InvalidDataException($"{configPath}: empty"))
                with { Text = DecoderConfig.Parse(json["text_config"]?.ToJsonString() ?? throw new InvalidDataException($"{configPath}: field 'text_config' is missing"), $"{configPath} (text_config)") };
        }
        catch (JsonException e) { throw new InvalidDataException($"{configPath}:{e.LineNumber + 1}: {e.Message}", e); }
        config.Vision?.Validate($"{configPath} (vision_config)");
        return config;
    }

    /// <summary>A model of the layout built in memory, with its processor.</summary>
    public static ChatModel Chat(VisionLanguageModel model, BpeTokenizer tokenizer) => new(model, Processor(model, tokenizer));

    /// <summary>The layout's processor: ChatML, one placeholder per image feature, letterboxed normalised pixels.</summary>
    public static ChatMlProcessor Processor(VisionLanguageModel model, BpeTokenizer tokenizer, HfChatTemplate? checkpointTemplate = null) =>
        new(tokenizer, model.TokensPerImage, model.ImageTokenId, model.Vision is null ? null : image => Pixels(image, model.Config), checkpointTemplate: checkpointTemplate);

    /// <summary>A decoded image as model input [1, 3, S, S]: RGB, letterboxed to the vision tower's size, normalised.</summary>
    public static Tensor Pixels(Image image, VlmConfig config)
    {
        if (config.Vision is null) throw new InvalidOperationException("this model has no vision tower: it cannot take an image");
        var square = ImageOps.Letterbox(image.ToRgb(), config.Vision.ImageSize);
        var pixels = ImageOps.Normalise(square, config.ImageMean, config.ImageStd);
        return Tensor.FromArray(pixels.Data, 1, pixels.Channels, pixels.Height, pixels.Width);
    }
}

using Ril.Hub;

namespace Ril.Cli.Commands;

/// <summary>
/// What a command's model argument (--model, a recipe's model.path) names, made a local folder: a directory as it is,
/// a Hub id from the huggingface_hub cache or downloaded into it, with the environment's Hub settings and a progress
/// display on stderr (stdout stays the command's own output).
/// </summary>
public static class ModelArgument
{
    public static string Resolve(string dirOrHubId) =>
        ModelLocation.Resolve(dirOrHubId, HubOptions.FromEnvironment() with
        {
            Progress = new DownloadProgressView(Console.Error, interactive: !Console.IsErrorRedirected),
            Log = Console.Error.WriteLine,
        });
}

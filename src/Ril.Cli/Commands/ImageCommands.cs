using System.CommandLine;
using Ril.Data.Images;

namespace Ril.Cli.Commands;

/// <summary>`ril image`: decode images the way training will, for checking by hand.</summary>
public static class ImageCommands
{
    public static Command Create()
    {
        var image = new Command("image", "Images: decode and convert with Ril's own codecs.");
        image.Add(Convert());
        image.Add(Info());
        return image;
    }

    static Command Convert()
    {
        var input = new Argument<string>("input") { Description = "Image to read: PNG, JPEG (needs libturbojpeg), PPM/PGM/PBM; the format is found from the content" };
        var output = new Argument<string>("output") { Description = "File to write; .png or .ppm (RGB, alpha dropped), or .pgm (grey)" };
        var command = new Command("convert", "Decode IN with Ril's decoders and write OUT as PNG or PPM by its extension (RGB, alpha dropped).") { input, output };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var decoded = ImageFile.Load(parse.GetValue(input)!);
            var path = parse.GetValue(output)!;
            ImageFile.Save(Path.GetExtension(path).Equals(".pgm", StringComparison.OrdinalIgnoreCase) ? decoded.ToGrey() : decoded.ToRgb(), path);
            Console.WriteLine($"{parse.GetValue(input)}: {decoded.Width}×{decoded.Height}, {decoded.Channels} channel(s) -> {path}");
            return 0;
        }));
        return command;
    }

    static Command Info()
    {
        var inputs = new Argument<string[]>("files") { Description = "Images to inspect", Arity = ArgumentArity.OneOrMore };
        var command = new Command("info", "Print size and channels of each image, or why it cannot be read.") { inputs };
        command.SetAction(parse =>
        {
            int failures = 0;
            foreach (var path in parse.GetValue(inputs)!)
            {
                try
                {
                    var decoded = ImageFile.Load(path);
                    Console.WriteLine($"{path}: {decoded.Width}×{decoded.Height}, {decoded.Channels} channel(s)");
                }
                catch (Exception e) when (e is ImageFormatException or FileNotFoundException or IOException)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    failures++;
                }
            }
            return failures == 0 ? 0 : 1;
        });
        return command;
    }
}

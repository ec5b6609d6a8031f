using Ril.Data;
using Ril.Data.Images;

namespace Ril.Cli.Commands;

/// <summary>
/// Runs a command body and turns the errors a user can fix (bad data, bad images, missing files, bad
/// arguments, chat templates that fail or reject a conversation, models an export does not support) into one line on stderr and exit code 1, instead of a stack trace.
/// </summary>
public static class ErrorReporting
{
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is DataFormatException or ImageFormatException or FileNotFoundException
                                      or DirectoryNotFoundException or ArgumentException or KeyNotFoundException or IOException
                                      or Training.RecipeException or InvalidDataException or Text.Jinja.TemplateException
                                      or Training.RunStoppedException or Data.Teachers.TeacherCollectionStoppedException or Models.Generation.NonFiniteLogitsException
                                      or NotSupportedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}

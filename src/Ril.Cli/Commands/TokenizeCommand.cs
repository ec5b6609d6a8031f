using System.CommandLine;
using System.Text;
using Ril.Text;

namespace Ril.Cli.Commands;

/// <summary>`ril tokenize`: token ids of text, line by line, for checking a tokenizer against another.</summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "A Hugging Face tokenizer.json (byte-level BPE: Qwen2/3, Llama 3, GPT-2, or one `BpeTrainer` wrote)", Required = true };
        var textFile = new Option<string?>("--text-file") { Description = "UTF-8 text to encode, one text per line; standard input when omitted" };
        var command = new Command("tokenize",
            "Print the token ids of each non-empty input line, separated by spaces, one line per input line. " +
            "No special tokens are added; special tokens written in the text (<|im_start|>) are recognised.") { tokenizer, textFile };
        command.SetAction(parse => ErrorReporting.Run(() =>
        {
            var bpe = BpeTokenizer.Load(parse.GetValue(tokenizer)!);
            var path = parse.GetValue(textFile);
            using var input = path == null ? new StreamReader(Console.OpenStandardInput(), Encoding.UTF8)
                : new StreamReader(File.Exists(path) ? path : throw new FileNotFoundException($"text file not found: {path}", path), Encoding.UTF8);
            using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
            var ids = new List<int>();
            for (var line = input.ReadLine(); line != null; line = input.ReadLine())
            {
                if (line.Length == 0) continue;
                ids.Clear();
                bpe.Encode(line, ids);
                for (int i = 0; i < ids.Count; i++)
                {
                    if (i > 0) output.Write(' ');
                    output.Write(ids[i]);
                }
                output.Write('\n');
            }
            return 0;
        }));
        return command;
    }
}

using System.CommandLine;
using Ril.Cli.Commands;

// The `ril` command. Each verb group lives in Commands/ and is added here with one line.
var root = new RootCommand("Ril: train small vision-language models with reinforcement learning and imitation of teachers.");
root.Add(DataCommands.Create());
root.Add(ImageCommands.Create());
root.Add(TeacherCommands.Create());
root.Add(GenerateCommand.Create());
root.Add(SftCommand.Create());
root.Add(ServeCommand.Create());
root.Add(TrainCommand.Create());
root.Add(QuickstartCommand.Create());
root.Add(TokenizeCommand.Create());
root.Add(EvalCommand.Create());
root.Add(ReportCommand.Create());
return root.Parse(args).Invoke();

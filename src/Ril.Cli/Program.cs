using System.CommandLine;
using Ril.Cli.Commands;
using Ril.Tensors.Distributed;

// The `ril` command. Each verb group lives in Commands/ and is added here with one line.
var root = new RootCommand("Ril: train small vision-language models with reinforcement learning and imitation of teachers.");
root.Add(DataCommands.Create());
root.Add(ImageCommands.Create());
root.Add(TeacherCommands.Create());
root.Add(GenerateCommand.Create());
root.Add(SftCommand.Create());
root.Add(ServeCommand.Create());
root.Add(TrainCommand.Create());
root.Add(DiscriminatorCommands.Create());
root.Add(QuickstartCommand.Create());
root.Add(TokenizeCommand.Create());
root.Add(TemplateCommand.Create());
root.Add(EvalCommand.Create());
root.Add(ReportCommand.Create());
root.Add(ExportCommand.Create());
// Under Open MPI's mpirun each process joins the job as one rank of a data-parallel run; otherwise nothing of MPI loads.
World.Start();
int exitCode = root.Parse(args).Invoke();
if (exitCode != 0) World.Abort(exitCode);   // one failed rank ends the job rather than leave the others waiting in a collective
World.Stop();
return exitCode;

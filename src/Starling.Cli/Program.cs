using System.CommandLine;
using System.CommandLine.Help;
using Starling.Cli;

if (args.Length > 0 && args[0] == "bench" && Environment.GetEnvironmentVariable(Starling.Cli.Bench.BenchCommand.InlineCompletionsVariable) is null)
{
    // A load generator must not be the bottleneck, nor take the broker's CPU: socket completions run on the socket
    // engine's own thread (one on a small machine) instead of a thread-pool hop per receive, as a single-threaded
    // epoll client would. Read once, at the first socket, so it is set before anything else runs.
    Environment.SetEnvironmentVariable(Starling.Cli.Bench.BenchCommand.InlineCompletionsVariable, "1");
}

var root = new RootCommand("starling: MQTT command-line tools for the Starling broker (pub and sub work like mosquitto_pub and mosquitto_sub).");
// -h is the host, as in mosquitto_pub/sub: help is --help or -? only.
for (var i = 0; i < root.Options.Count; i++)
{
    if (root.Options[i] is HelpOption)
    {
        root.Options[i] = new HelpOption("--help", "-?");
    }
}
root.Subcommands.Add(PubCommand.Create());
root.Subcommands.Add(SubCommand.Create());
root.Subcommands.Add(PasswdCommand.Create());
root.Subcommands.Add(Starling.Cli.Bench.BenchCommand.Create());

var parse = root.Parse(args);
if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
{
    foreach (var error in parse.Errors)
    {
        await Console.Error.WriteLineAsync($"Error: {error.Message}");
    }
    var verb = parse.CommandResult.Command == root ? "" : " " + parse.CommandResult.Command.Name;
    await Console.Error.WriteLineAsync($"Run 'starling{verb} --help' for the options.");
    return 2;
}
return await parse.InvokeAsync();

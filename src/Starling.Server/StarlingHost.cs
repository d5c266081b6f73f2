namespace Starling.Server;

/// <summary>The <c>starling-server</c> command: parses the command line, runs a <see cref="StarlingServer"/> until SIGTERM or Ctrl+C.</summary>
public static class StarlingHost
{
    /// <summary>Runs the server; returns the process exit code (0 clean stop, 1 fatal error, 2 usage or configuration error).</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ServerCommandLine commandLine;
        try
        {
            commandLine = ServerCommandLine.Parse(args);
        }
        catch (StarlingStartupException ex)
        {
            await Console.Error.WriteLineAsync("starling-server: " + ex.Message);
            return ex.ExitCode;
        }

        if (commandLine.Help)
        {
            await Console.Out.WriteAsync(ServerCommandLine.HelpText());
            return 0;
        }
        if (commandLine.Version)
        {
            await Console.Out.WriteLineAsync($"starling-server {ServerCommandLine.VersionText()}");
            return 0;
        }

        StarlingServer server;
        try
        {
            server = await StarlingServer.StartCoreAsync(commandLine, configOverrides: null, loggerProvider: null, useConsoleLifetime: true, timeProvider: null, CancellationToken.None);
        }
        catch (StarlingStartupException ex)
        {
            await Console.Error.WriteLineAsync("starling-server: " + ex.Message);
            return ex.ExitCode;
        }

        await using (server)
        {
            try
            {
                await server.WaitForShutdownAsync();
            }
            catch (Exception ex)
            {
                await Console.Error.WriteLineAsync($"starling-server: fatal error: {ex}");
                return 1;
            }
        }
        return 0;
    }
}

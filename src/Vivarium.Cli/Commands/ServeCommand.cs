using System.CommandLine;
using Vivarium.Server;

namespace Vivarium.Cli.Commands;

/// <summary><c>vivarium serve [ASP.NET args…]</c>: the HTTP server, configured exactly as ASP.NET takes it.</summary>
internal static class ServeCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        // Everything after "serve" goes to ASP.NET untouched and in order: --urls URL,
        // --Vivarium:Pool:Size=4, --environment Development…
        var aspNetArguments = new Argument<string[]>("ASP.NET arguments")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Passed to ASP.NET as given, e.g. --urls http://127.0.0.1:9000 --Vivarium:Pool:Size=4",
        };
        var command = new Command("serve", $"Start the HTTP server (default {VivariumServer.DefaultUrl}; set VIVARIUM_API_KEY to choose the API key).")
        {
            aspNetArguments,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var app = VivariumServer.Build(parseResult.GetValue(aspNetArguments) ?? []);
            await app.RunAsync();
            return 0;
        });
        return command;
    }
}

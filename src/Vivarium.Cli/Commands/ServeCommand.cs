using System.CommandLine;
using Vivarium.Server;

namespace Vivarium.Cli.Commands;

/// <summary><c>vivarium serve [ASP.NET args…]</c>: the HTTP server, configured exactly as ASP.NET takes it.</summary>
internal static class ServeCommand
{
    private const string ArgumentName = "ASP.NET arguments";

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        // Everything after "serve" goes to ASP.NET untouched and in order: --urls URL,
        // --Vivarium:Pool:Size=4, --environment Development…
        var aspNetArguments = new Argument<string[]>(ArgumentName)
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
            // RunAsync stops on Ctrl+C and SIGTERM by itself (ASP.NET's console lifetime),
            // letting running executions finish and sandboxes be cleaned up.
            var app = VivariumServer.Build(ForwardedArguments(parseResult));
            await app.RunAsync();
            return 0;
        });
        return command;
    }

    /// <summary>The arguments after <c>serve</c>, in their order, for ASP.NET.</summary>
    public static string[] ForwardedArguments(ParseResult parseResult) =>
        parseResult.GetValue<string[]>(ArgumentName) ?? [];
}

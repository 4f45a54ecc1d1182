using Vivarium.Cli;

return await CliApplication.InvokeAsync(args, CliConsole.System);

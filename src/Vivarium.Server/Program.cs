using Vivarium.Server;

await VivariumServer.Build(args).RunAsync();

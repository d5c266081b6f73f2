return await Starling.Server.StarlingHost.RunAsync(args);

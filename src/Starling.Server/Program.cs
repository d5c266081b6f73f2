Console.WriteLine("starling-server: not built yet");

Console.WriteLine("starling: not built yet");

using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Starling.Benchmarks -- --filter '*' --job short
// dotnet run -c Release --project bench/Starling.Benchmarks -- --allocation-gate bench/allocation-budget.json
if (args is ["--allocation-gate", var budgetPath])
{
    return Starling.Benchmarks.AllocationGate.Run(budgetPath, Console.Out);
}
var config = DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default);
BenchmarkSwitcher.FromAssembly(typeof(Starling.Benchmarks.CodecBenchmarks).Assembly).Run(args, config);
return 0;

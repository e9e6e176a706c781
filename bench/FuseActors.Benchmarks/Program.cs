using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(FuseActors.Benchmarks.ProtocolBenchmarks).Assembly).Run(args);

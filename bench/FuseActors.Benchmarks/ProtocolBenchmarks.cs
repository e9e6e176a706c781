using BenchmarkDotNet.Attributes;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Benchmarks;

/// <summary>Request decoding and reply encoding: the per-request CPU the engine spends outside the filesystem.</summary>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    private readonly NegotiatedProtocol _settings = new();
    private readonly byte[] _scratch = new byte[4096];
    private byte[] _getattr = [], _lookup = [], _read = [], _write = [];
    private readonly byte[] _writeBuffer = new byte[(1 << 20) + 4096];

    [GlobalSetup]
    public void Setup()
    {
        _getattr = RequestBuilder.Build(Opcode.GetAttr, 4, 1, new FuseGetAttrIn());
        _lookup = RequestBuilder.BuildName(Opcode.Lookup, 6, 1, "some-file-name.txt");
        _read = RequestBuilder.Build(Opcode.Read, 8, 5, new FuseReadIn { Size = 131072 });
        var write = RequestBuilder.Build(Opcode.Write, 10, 5, new FuseWriteIn { Size = 4096 }, new byte[4096]);
        write.CopyTo(_writeBuffer, 0);
        _write = write;
    }

    [Benchmark]
    public FsRequest DecodeGetAttr() => RequestFactory.Parse(_getattr, _getattr.Length, _settings, out _);

    [Benchmark]
    public FsRequest DecodeLookup() => RequestFactory.Parse(_lookup, _lookup.Length, _settings, out _);

    [Benchmark]
    public FsRequest DecodeRead() => RequestFactory.Parse(_read, _read.Length, _settings, out _);

    [Benchmark]
    public FsRequest DecodeWrite4K() => RequestFactory.Parse(_writeBuffer, _write.Length, _settings, out _);

    [Benchmark]
    public int EncodeEntryReply()
    {
        var r = new LookupRequest();
        r.Reply(new Entry { NodeId = 5, Attr = new FuseAttr { Ino = 5, Mode = ModeBits.Regular | 0x1A4, Nlink = 1 } });
        return r.EncodeReply(_scratch, _settings).Length;
    }

    [Benchmark]
    public int EncodeAttrReply()
    {
        var r = new GetAttrRequest();
        r.Reply(new FuseAttr { Ino = 5, Mode = ModeBits.Regular | 0x1A4, Nlink = 1 });
        return r.EncodeReply(_scratch, _settings).Length;
    }

    [Benchmark]
    public int EncodeReadDir100Entries()
    {
        var r = new ReadDirRequest { Size = 32768 };
        for (int i = 0; i < 100; i++) r.TryAdd("entry-name-" + i, (ulong)i + 2, ModeBits.Regular, (ulong)i + 3);
        int n = r.EncodeReply(_scratch, _settings).Length;
        r.ReleaseBuffers();
        return n;
    }
}

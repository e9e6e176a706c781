using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Benchmarks;

/// <summary>Builds raw kernel requests (header + body) the way the kernel lays them out.</summary>
internal static class RequestBuilder
{
    public static byte[] Build<T>(Opcode op, ulong unique, ulong node, T body, ReadOnlySpan<byte> tail = default) where T : unmanaged
    {
        int len = FuseConstants.InHeaderSize + Marshal.SizeOf<T>() + tail.Length;
        var buf = new byte[len];
        var h = new FuseInHeader { Len = (uint)len, Opcode = (uint)op, Unique = unique, NodeId = node, Uid = 0, Gid = 0, Pid = 1234 };
        MemoryMarshal.Write(buf, in h);
        MemoryMarshal.Write(buf.AsSpan(FuseConstants.InHeaderSize), in body);
        tail.CopyTo(buf.AsSpan(FuseConstants.InHeaderSize + Marshal.SizeOf<T>()));
        return buf;
    }

    public static byte[] BuildName(Opcode op, ulong unique, ulong node, string name)
    {
        var n = Encoding.UTF8.GetBytes(name + "\0");
        int len = FuseConstants.InHeaderSize + n.Length;
        var buf = new byte[len];
        var h = new FuseInHeader { Len = (uint)len, Opcode = (uint)op, Unique = unique, NodeId = node, Pid = 1234 };
        MemoryMarshal.Write(buf, in h);
        n.CopyTo(buf.AsSpan(FuseConstants.InHeaderSize));
        return buf;
    }

    public static byte[] Init(ulong unique) => Build(Opcode.Init, unique, 0, new FuseInitIn
    {
        Major = 7, Minor = 45, MaxReadahead = 1 << 20,
        Flags = (uint)(InitFlags.AsyncRead | InitFlags.BigWrites | InitFlags.MaxPages | InitFlags.InitExt | InitFlags.DoReadDirPlus | InitFlags.ReadDirPlusAuto),
    });

    public static void SetUnique(byte[] request, ulong unique) => MemoryMarshal.Write(request.AsSpan(8), in unique);
}

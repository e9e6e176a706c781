using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>Host names, symlink targets and xattr names that are not UTF-8 pass through PassthroughFs byte for byte:
/// listed under their own bytes, reachable by them, and never merged (issue 9, item 1).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughByteNameTests : PassthroughTestKit
{
    private static readonly byte[] CafE8 = [(byte)'c', (byte)'a', (byte)'f', 0xE8];
    private static readonly byte[] CafE9 = [(byte)'c', (byte)'a', (byte)'f', 0xE9];

    [Fact]
    public void A_host_file_whose_name_is_not_UTF8_is_listed_and_opened_under_its_own_bytes()
    {
        // .NET cannot spell such a path; the shell's printf can (\350 = 0xE8, \351 = 0xE9).
        Shell($"cd '{Source}' && printf e8 > \"$(printf 'caf\\350')\" && printf e9 > \"$(printf 'caf\\351')\"");

        var listed = ReadDirAll(Root).Where(r => r.Name is not ("." or "..")).Select(r => r.NameBytes).ToList();
        Assert.Equal(2, listed.Count);
        Assert.Contains(listed, n => n.AsSpan().SequenceEqual(CafE8));
        Assert.Contains(listed, n => n.AsSpan().SequenceEqual(CafE9));
        var plus = ReadDirAll(Root, plus: true).Where(r => r.Name is not ("." or "..")).ToList();
        Assert.Equal(2, plus.Count);
        Assert.NotEqual(plus[0].Plus!.Value.NodeId, plus[1].Plus!.Value.NodeId);

        foreach (var (name, content) in new[] { (CafE8, "e8"u8.ToArray()), (CafE9, "e9"u8.ToArray()) })
        {
            var node = Lookup(Root, FileName.FromBytes(name)).NodeId;
            ulong fh = Open(node, OpenFlags.ReadOnly);
            Assert.Equal(content, Read(node, fh, 0, 100));
            Release(node, fh);
        }
        // The lossy text of either name reaches nothing.
        Assert.Equal(Errno.ENOENT, LookupError(Root, "caf\uFFFD"));
    }

    [Fact]
    public void Two_names_that_decode_alike_are_two_host_files_even_with_O_EXCL()
    {
        var ff = FileName.FromBytes([(byte)'x', 0xFF]);
        var fe = FileName.FromBytes([(byte)'x', 0xFE]);
        var a = Create(Root, ff);
        var b = Create(Root, fe);
        Assert.NotEqual(a.Entry.NodeId, b.Entry.NodeId);
        Write(a.Entry.NodeId, a.Fh, 0, "ff"u8.ToArray());
        Write(b.Entry.NodeId, b.Fh, 0, "fe"u8.ToArray());
        Release(a.Entry.NodeId, a.Fh);
        Release(b.Entry.NodeId, b.Fh);
        // The host agrees: two files, with their own bytes and contents.
        Assert.Equal("fe ff", Shell($"cd '{Source}' && cat \"$(printf 'x\\376')\" && printf ' ' && cat \"$(printf 'x\\377')\""));

        Assert.Equal(Errno.Ok, Rename(Root, ff, Root, FileName.FromBytes([0xFF])));
        Assert.Equal(Errno.Ok, Unlink(Root, fe));
        var left = Assert.Single(ReadDirAll(Root), r => r.Name is not ("." or ".."));
        Assert.Equal(new byte[] { 0xFF }, left.NameBytes);
    }

    [Fact]
    public void Symlink_targets_and_xattr_names_keep_their_bytes()
    {
        byte[] target = [(byte)'d', (byte)'/', .. CafE8];
        var link = EntryOf(Ok(new SymlinkRequest { Name = FileName.FromBytes(CafE9), Target = target }, Root)).NodeId;
        Assert.Equal(target, Payload(Ok(new ReadLinkRequest(), link)));
        // The host's link holds the same bytes: d / c a f 0xE8.
        Assert.Equal("64 2f 63 61 66 e8", Shell($"cd '{Source}' && readlink -n \"$(printf 'caf\\351')\" | od -An -tx1 | tr -s ' ' | sed 's/^ //'"));

        var file = Create(Root, "f");
        Release(file.Entry.NodeId, file.Fh);
        byte[] xattr = [.. "user.caf"u8, 0xE8];
        Assert.Equal(Errno.Ok, Err(new SetXAttrRequest { Name = xattr, Value = "v"u8.ToArray() }, file.Entry.NodeId));
        var list = Payload(Ok(new ListXAttrRequest { Size = 4096 }, file.Entry.NodeId));
        Assert.Equal([.. xattr, 0], list);
        var get = Ok(new GetXAttrRequest { Name = xattr, Size = 100 }, file.Entry.NodeId);
        Assert.Equal("v"u8.ToArray(), Payload(get));
    }

    private static string Shell(string command)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", command]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output.Trim();
    }
}

using System.Text;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// Requests the kernel would never send (or a hostile one could), sent straight to the actor: names that are not a
/// single component, ".." at the root, operations on a symlink node whose target lies outside SOURCE. None may
/// reach, create or change anything outside SOURCE, and none may hand out a node for something outside it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PassthroughEscapeUnitTests : PassthroughTestKit
{
    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("../outside")]
    [InlineData("sub/../..")]
    [InlineData("/etc")]
    [InlineData("a/b")]
    public void Lookup_of_anything_but_a_single_name_is_refused(string name)
    {
        Directory.CreateDirectory(InSource("sub"));
        Assert.Equal(Errno.EINVAL, LookupError(Root, name));
        var sub = Lookup(Root, "sub").NodeId;
        Assert.Equal(Errno.EINVAL, LookupError(sub, name));
        Assert.Equal(2, Actor.NodeCount); // root and sub: nothing else was ever opened
    }

    [Fact]
    public void Names_with_slashes_or_dots_never_create_remove_or_rename_outside()
    {
        File.WriteAllText(InSource("f"), "x");
        File.WriteAllText(Path.Combine(Outside, "victim"), "keep");
        var f = Lookup(Root, "f").NodeId;
        string[] bad = ["..", ".", "../outside/x", "../x", "/tmp/x", "a/b", "x\0y"];
        foreach (var name in bad)
        {
            Assert.Equal(Errno.EINVAL, Err(new MkDirRequest { Name = name, Mode = 0x1ED }, Root));
            Assert.Equal(Errno.EINVAL, Err(new MkNodRequest { Name = name, Mode = S_IFREG | 0x1A4 }, Root));
            Assert.Equal(Errno.EINVAL, Err(new SymlinkRequest { Name = name, Target = "t"u8.ToArray() }, Root));
            Assert.Equal(Errno.EINVAL, Err(new CreateRequest { Name = name, Mode = S_IFREG | 0x1A4, Flags = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive }, Root));
            Assert.Equal(Errno.EINVAL, Err(new LinkRequest { OldNodeId = f, NewName = name }, Root));
            Assert.Equal(Errno.EINVAL, Err(new UnlinkRequest { Name = name }, Root));
            Assert.Equal(Errno.EINVAL, Err(new RmDirRequest { Name = name }, Root));
            Assert.Equal(Errno.EINVAL, Rename(Root, "f", Root, name));
            Assert.Equal(Errno.EINVAL, Rename(Root, name, Root, "g"));
        }
        Assert.Equal(Errno.EINVAL, Err(new UnlinkRequest { Name = "../outside/victim" }, Root));
        Assert.Equal(["victim"], OutsideContents().Select(Path.GetFileName));
        Assert.Equal("keep", File.ReadAllText(Path.Combine(Outside, "victim")));
        Assert.Equal(["f"], Directory.GetFileSystemEntries(Source).Select(Path.GetFileName));
        Assert.False(File.Exists(Path.Combine(Base, "x")));
    }

    [Fact]
    public void A_symlink_pointing_outside_is_a_link_node_and_never_a_directory_to_work_in()
    {
        File.WriteAllText(Path.Combine(Outside, "secret"), "outside data");
        File.CreateSymbolicLink(InSource("out"), Outside);
        File.CreateSymbolicLink(InSource("up"), "..");

        var e = Lookup(Root, "out");
        Assert.Equal(S_IFLNK, e.Attr.Mode & 0xF000);
        var readlink = Ok(new ReadLinkRequest(), e.NodeId);
        Assert.Equal(Outside, Encoding.UTF8.GetString(Payload(readlink)));

        // Used as a directory, the link is not followed: every *at call on its O_PATH descriptor fails.
        Assert.Equal(Errno.ENOTDIR, LookupError(e.NodeId, "secret"));
        Assert.Equal(Errno.ENOTDIR, Err(new CreateRequest { Name = "planted", Mode = S_IFREG | 0x1A4, Flags = OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive }, e.NodeId));
        Assert.Equal(Errno.ENOTDIR, Err(new MkDirRequest { Name = "planted", Mode = 0x1ED }, e.NodeId));
        Assert.Equal(Errno.ENOTDIR, Err(new SymlinkRequest { Name = "planted", Target = "x"u8.ToArray() }, e.NodeId));
        Assert.Equal(Errno.ENOTDIR, Err(new UnlinkRequest { Name = "secret" }, e.NodeId));
        Assert.Equal(Errno.ENOTDIR, Err(new OpenRequest { IsDirectory = true }, e.NodeId));
        Assert.Equal(Errno.ENOTDIR, Rename(e.NodeId, "secret", Root, "stolen"));
        Assert.Equal(Errno.ELOOP, Err(new OpenRequest { Flags = 0 }, e.NodeId));

        var up = Lookup(Root, "up");
        Assert.Equal(S_IFLNK, up.Attr.Mode & 0xF000);
        Assert.Equal(Errno.ENOTDIR, LookupError(up.NodeId, "outside"));

        Assert.Equal([Path.Combine(Outside, "secret")], OutsideContents());
        Assert.Equal("outside data", File.ReadAllText(Path.Combine(Outside, "secret")));
        Assert.False(File.Exists(InSource("stolen")));
    }

    [Fact]
    public void Attribute_and_xattr_changes_on_a_link_node_change_the_link_not_its_outside_target()
    {
        var target = Path.Combine(Outside, "target");
        File.WriteAllText(target, "t");
        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var old = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(target, old);
        File.CreateSymbolicLink(InSource("link"), target);
        var link = Lookup(Root, "link").NodeId;

        Assert.Equal(Errno.EOPNOTSUPP, Err(new SetAttrRequest { Valid = SetAttrValid.Mode, Mode = S_IFREG | 0x1FF }, link));
        var a = SetAttr(link, new SetAttrRequest
        {
            Valid = SetAttrValid.Uid | SetAttrValid.Gid | SetAttrValid.Mtime,
            AttrUid = 1234, AttrGid = 4321, Mtime = new FsTime(1_600_000_000, 5),
        });
        Assert.Equal((1234u, 4321u, 1_600_000_000UL, S_IFLNK), (a.Uid, a.Gid, a.Mtime, a.Mode & 0xF000));
        Assert.Equal(Errno.EINVAL, Err(new SetAttrRequest { Valid = SetAttrValid.Size, Size = 0 }, link));
        var setx = Err(new SetXAttrRequest { Name = "user.planted"u8.ToArray(), Value = "v"u8.ToArray() }, link);
        Assert.Equal(Errno.EPERM, setx); // user.* xattrs are not allowed on symlinks: proof we addressed the link
        Assert.Equal(Errno.ENODATA, Err(new GetXAttrRequest { Name = "user.planted"u8.ToArray() }, link));

        var st = new FileInfo(target);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
        Assert.Equal(old, st.LastWriteTimeUtc);
        Assert.Equal("t", File.ReadAllText(target));
        var owner = Shell("stat -c '%u %g' " + target);
        Assert.Equal("0 0", owner);
        Assert.Equal("1234 4321", Shell("stat -c '%u %g' " + InSource("link")));
        Assert.Equal("", Shell("getfattr --absolute-names -d " + target));
    }

    [Fact]
    public void A_hard_link_to_a_link_node_links_the_link_itself()
    {
        File.WriteAllText(Path.Combine(Outside, "target"), "t");
        File.CreateSymbolicLink(InSource("link"), Path.Combine(Outside, "target"));
        var link = Lookup(Root, "link").NodeId;
        var e = Link(link, Root, "second");
        Assert.Equal(link, e.NodeId);
        Assert.Equal(2u, e.Attr.Nlink);
        Assert.Equal(Path.Combine(Outside, "target"), new FileInfo(InSource("second")).LinkTarget);
        Assert.Equal("1", Shell("stat -c %h " + Path.Combine(Outside, "target")));
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

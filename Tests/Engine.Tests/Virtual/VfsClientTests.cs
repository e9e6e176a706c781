using System.Text;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Engine.Tests.Virtual;

/// <summary>The caller API and the path layer, end to end against a small raw-FUSE daemon on its own thread.</summary>
public sealed class VfsClientTests : IDisposable
{
    private readonly VirtualDevice _device = new();
    private readonly MiniFs _fs;
    private readonly VfsClient _c;
    private readonly VfsPathClient _p;

    public VfsClientTests()
    {
        _fs = new MiniFs(_device);
        _c = new VfsClient(_device, new FuseCaller(1000, 1000, 77), new VfsClientOptions { UseAttrCache = false });
        _p = new VfsPathClient(_c);
    }

    public void Dispose() => _fs.Dispose();

    private async Task AssertBalancedAsync()
    {
        await _fs.SyncAsync(_c);
        Assert.Equal(_device.LookupCounts().Where(kv => kv.Value > 0).ToDictionary(), _fs.LookupCounts);
        var s = _device.Stats();
        Assert.Equal((s.Credit, s.Debt, s.Background, s.NodeReferences), (s.MaxOutstanding, 0, 0, 0));
    }

    [Fact]
    public async Task Init_is_done_by_the_device_when_the_daemon_starts_reading()
    {
        Assert.True(await _device.WhenInitialized.Within());
        Assert.Equal(65536u, _device.MaxWrite);
        Assert.True((_device.NegotiatedFlags & InitFlags.SetXAttrExt) != 0);
    }

    [Fact]
    public async Task Umask_is_applied_to_new_nodes_modes_as_the_kernel_does_without_DONT_MASK()
    {
        Assert.Equal(0x1EDu, (await _c.MkDirAsync(1, "d", 0x1FF, umask: 0x12).Within()).Mode & 0xFFF);
        Assert.Equal(0x1A4u, (await _c.CreateAsync(1, "f", mode: 0x1B6, umask: 0x12).Within()).Entry.Mode & 0xFFF);
        Assert.Equal(Posix.S_IFIFO | 0x180, (await _c.MkNodAsync(1, "p", Posix.S_IFIFO | 0x1B6, umask: 0x36).Within()).Mode);
    }

    [Fact]
    public async Task Files_create_write_read_getattr_setattr_flush_fsync_release()
    {
        var created = await _c.CreateAsync(1, "file.txt").Within();
        Assert.True(created.Entry.IsFile);
        var data = Enumerable.Range(0, 200_000).Select(i => (byte)(i % 251)).ToArray(); // > max_write: split in 4
        Assert.Equal(data.Length, await _c.WriteAsync(created.Handle, 0, data).Within());
        Assert.Equal(4, _fs.Count(Opcode.Write));
        Assert.Equal(data[1000..5000], await _c.ReadAsync(created.Handle, 1000, 4000).Within());
        Assert.Equal((ulong)data.Length, (await _c.GetAttrAsync(created.Entry.NodeId).Within()).Size);
        Assert.Equal(10UL, (await _c.TruncateAsync(created.Entry.NodeId, 10, created.Handle.Fh).Within()).Size);
        Assert.Equal(0x1C0u, (await _c.ChmodAsync(created.Entry.NodeId, 0x1C0).Within()).Mode & 0xFFF);
        await _c.FlushAsync(created.Handle).Within();
        await _c.FsyncAsync(created.Handle, dataOnly: true).Within();
        await _c.FallocateAsync(created.Handle, 0, 100).Within();
        Assert.Equal(100UL, await _c.LseekAsync(created.Handle, 0, Posix.SEEK_HOLE).Within());
        await _c.ReleaseAsync(created.Handle).Within();
        Assert.Equal(0, _fs.OpenHandles);

        var opened = await _c.OpenAsync(created.Entry.NodeId, Posix.O_RDONLY).Within();
        Assert.Equal(100, (await _c.ReadAsync(opened, 0, 4096).Within()).Length);
        await _c.ReleaseAsync(opened).Within();
        _c.Forget(created.Entry.NodeId);
        await AssertBalancedAsync();
    }

    [Fact]
    public async Task Names_mkdir_mknod_symlink_readlink_link_rename_unlink_rmdir()
    {
        var dir = await _c.MkDirAsync(1, "d").Within();
        Assert.True(dir.IsDirectory);
        var fifo = await _c.MkNodAsync(dir.NodeId, "fifo", Posix.S_IFIFO | 0x1A4).Within();
        Assert.Equal(Posix.S_IFIFO, fifo.Mode & Posix.S_IFMT);
        var ln = await _c.SymlinkAsync(dir.NodeId, "ln", "fifo").Within();
        Assert.Equal("fifo", await _c.ReadLinkAsync(ln.NodeId).Within());
        var hard = await _c.LinkAsync(fifo.NodeId, 1, "hard").Within();
        Assert.Equal(fifo.NodeId, hard.NodeId);
        Assert.Equal(2u, hard.Attr.Nlink);

        await _c.RenameAsync(1, "hard", dir.NodeId, "hard2").Within();
        var ex = await Assert.ThrowsAsync<FuseErrnoException>(() => _c.RenameAsync(dir.NodeId, "hard2", dir.NodeId, "ln", FuseConstants.RenameNoReplace).Within());
        Assert.Equal(Errno.EEXIST, ex.Errno);
        Assert.Equal(Opcode.Rename2, ex.Opcode);
        Assert.Equal(Errno.ENOTEMPTY, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.RmDirAsync(1, "d").Within())).Errno);
        foreach (var name in new[] { "fifo", "ln", "hard2" }) await _c.UnlinkAsync(dir.NodeId, name).Within();
        await _c.RmDirAsync(1, "d").Within();
        Assert.Equal(Errno.ENOENT, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.LookupAsync(1, "d").Within())).Errno);

        foreach (var n in new[] { dir.NodeId, fifo.NodeId, ln.NodeId, hard.NodeId }) _c.Forget(n);
        await AssertBalancedAsync();
    }

    [Fact]
    public async Task Invalid_names_fail_like_the_kernel_without_a_request()
    {
        Assert.Equal(Errno.ENAMETOOLONG, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.LookupAsync(1, new string('n', 1025)))).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.MkDirAsync(1, "a/b"))).Errno);
        Assert.Equal(Errno.ENOENT, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.LookupAsync(1, ""))).Errno);
    }

    [Fact]
    public async Task Directories_opendir_readdir_readdirplus_releasedir_fsyncdir()
    {
        foreach (var n in new[] { "b", "a", "c" })
        {
            var e = await _c.MkNodAsync(1, n, Posix.S_IFREG | 0x1A4).Within();
            _c.Forget(e.NodeId);
        }
        var h = await _c.OpenDirAsync(1).Within();
        var all = await _c.ReadDirAllAsync(h).Within();
        Assert.Equal([".", "..", "a", "b", "c"], all.Select(e => e.Name));
        Assert.Equal(Posix.DT_REG, all[2].Type);
        var small = await _c.ReadDirAsync(h, 2, 64).Within(); // a small buffer: whole records only
        Assert.Equal(["a", "b"], small.Select(e => e.Name));

        var plus = await _c.ReadDirPlusAsync(h).Within();
        Assert.Equal(5, plus.Count);
        Assert.Equal(3, plus.Count(e => e.HoldsLookup));
        _c.Forget(plus);
        await _c.FsyncDirAsync(h).Within();
        await _c.ReleaseDirAsync(h).Within();
        await AssertBalancedAsync();
    }

    [Fact]
    public async Task Xattrs_set_get_list_remove()
    {
        var e = await _c.MkNodAsync(1, "x", Posix.S_IFREG | 0x1A4).Within();
        await _c.SetXAttrAsync(e.NodeId, "user.one", "1"u8.ToArray()).Within();
        await _c.SetXAttrAsync(e.NodeId, "user.two", "22"u8.ToArray()).Within();
        Assert.Equal(Errno.EEXIST, (await Assert.ThrowsAsync<FuseErrnoException>(() =>
            _c.SetXAttrAsync(e.NodeId, "user.one", "x"u8.ToArray(), FuseConstants.XattrCreate).Within())).Errno);
        Assert.Equal(2u, await _c.GetXAttrSizeAsync(e.NodeId, "user.two").Within());
        Assert.Equal("22"u8.ToArray(), await _c.GetXAttrAsync(e.NodeId, "user.two").Within());
        Assert.Equal(Errno.ERANGE, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.GetXAttrAsync(e.NodeId, "user.two", 1).Within())).Errno);
        Assert.Equal(["user.one", "user.two"], await _c.ListXAttrAsync(e.NodeId).Within());
        await _c.RemoveXAttrAsync(e.NodeId, "user.one").Within();
        Assert.Equal(Errno.ENODATA, (await Assert.ThrowsAsync<FuseErrnoException>(() => _c.GetXAttrAsync(e.NodeId, "user.one").Within())).Errno);
        _c.Forget(e.NodeId);
        await AssertBalancedAsync();
    }

    [Fact]
    public async Task Statfs_access_bmap_and_copy_file_range_with_the_64_bit_fallback()
    {
        var st = await _c.StatFsAsync().Within();
        Assert.Equal(4096u, st.Bsize);

        await _c.AccessAsync(1, Posix.R_OK).Within(); // ENOSYS: allowed, and never asked again
        await _c.AccessAsync(1, Posix.W_OK).Within();
        Assert.Equal(1, _fs.Count(Opcode.Access));
        Assert.Equal(1007UL, await _c.BmapAsync(1, 7, 4096).Within());

        var a = await _c.CreateAsync(1, "a").Within();
        var b = await _c.CreateAsync(1, "b").Within();
        await _c.WriteAsync(a.Handle, 0, "hello world"u8.ToArray()).Within();
        Assert.Equal(5UL, await _c.CopyFileRangeAsync(a.Handle, 6, b.Handle, 0, 5).Within());
        Assert.Equal(5UL, await _c.CopyFileRangeAsync(a.Handle, 0, b.Handle, 5, 5).Within());
        Assert.Equal(1, _fs.Count(Opcode.CopyFileRange64)); // ENOSYS once, then the 32-bit call only
        Assert.Equal(2, _fs.Count(Opcode.CopyFileRange));
        Assert.Equal("worldhello"u8.ToArray(), await _c.ReadAsync(b.Handle, 0, 100).Within());
        await Task.WhenAll(_c.ReleaseAsync(a.Handle), _c.ReleaseAsync(b.Handle)).Within();
        _c.Forget(a.Entry.NodeId);
        _c.Forget(b.Entry.NodeId);
        await AssertBalancedAsync();
    }

    [Fact]
    public async Task Caller_identity_is_in_every_request_header()
    {
        var device = new VirtualDevice();
        var daemon = new FakeDaemon(device);
        daemon.Init();
        var bob = new VfsClient(device).As(new FuseCaller(2000, 3000, 4000));
        var t = bob.StatFsAsync();
        var r = daemon.Read(Opcode.StatFs);
        Assert.Equal((2000u, 3000u, 4000u), (r.Header.Uid, r.Header.Gid, r.Header.Pid));
        daemon.Reply(r.Unique, new FuseStatFsOut());
        await t.Within();
        device.Dispose();
        Assert.Equal(Errno.ENOTCONN, (await Assert.ThrowsAsync<FuseErrnoException>(() => bob.StatFsAsync())).Errno);
    }

    [Fact]
    public async Task Path_layer_write_read_list_mkdir_move_delete_and_lookups_return_to_zero()
    {
        await _p.CreateDirectoryAsync("docs/2026/jan").Within();
        await _p.CreateDirectoryAsync("docs/2026").Within(); // exists: fine
        await _p.WriteAllTextAsync("docs/2026/jan/note.txt", "first").Within();
        await _p.WriteAllTextAsync("docs/2026/jan/note.txt", "second, longer").Within(); // truncates
        Assert.Equal("second, longer", await _p.ReadAllTextAsync("/docs/./2026/jan/../jan/note.txt").Within());

        var big = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 31)).ToArray();
        await _p.WriteAllBytesAsync("docs/big.bin", big).Within();
        Assert.Equal(big, await _p.ReadAllBytesAsync("docs/big.bin").Within());
        Assert.Equal((ulong)big.Length, (await _p.GetAttrAsync("docs/big.bin").Within()).Size);

        Assert.Equal(["2026", "big.bin"], (await _p.ListDirectoryAsync("docs").Within()).Select(e => e.Name));
        await _p.MoveAsync("docs/big.bin", "docs/2026/big.bin").Within();
        Assert.False(await _p.ExistsAsync("docs/big.bin").Within());
        Assert.True(await _p.ExistsAsync("docs/2026/big.bin").Within());
        Assert.Equal(Errno.ENOTEMPTY, (await Assert.ThrowsAsync<FuseErrnoException>(() => _p.DeleteAsync("docs").Within())).Errno);
        await _p.DeleteAsync("docs", recursive: true).Within();
        Assert.Empty(await _p.ListDirectoryAsync("/").Within());
        await AssertBalancedAsync();
        Assert.Equal(0, _fs.OpenHandles);
        Assert.Empty(_fs.LookupCounts);
    }

    [Fact]
    public async Task Path_layer_errors_surface_as_errno()
    {
        Assert.Equal(Errno.ENOENT, (await Assert.ThrowsAsync<FuseErrnoException>(() => _p.ReadAllBytesAsync("nope/x"))).Errno);
        await _p.WriteAllTextAsync("f", "x");
        Assert.Equal(Errno.ENOTDIR, (await Assert.ThrowsAsync<FuseErrnoException>(() => _p.CreateDirectoryAsync("f/sub"))).Errno);
        Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<FuseErrnoException>(() => _p.WriteAllTextAsync("/", "x"))).Errno);
        await _p.CreateDirectoryAsync("dir");
        Assert.Equal(Errno.EISDIR, (await Assert.ThrowsAsync<FuseErrnoException>(() => _p.WriteAllTextAsync("dir", "x"))).Errno);
        await AssertBalancedAsync();
    }
}

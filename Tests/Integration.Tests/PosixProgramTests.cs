using Akka.Actor;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// Real programs against a real mount of a filesystem actor. Each test mounts at its own temporary directory and
/// unmounts in cleanup. Subclasses pick the filesystem, so every filesystem runs the same POSIX suite.
/// </summary>
public abstract class PosixProgramTests
{
    protected abstract Props CreateFilesystem();

    /// <summary>Connection settings of the mount (null: the defaults).</summary>
    protected virtual Actors.Connection.ConnectionSettings? Settings => null;

    protected Task<MountedFilesystem> MountAsync() => MountedFilesystem.StartAsync(CreateFilesystem(), Settings);

    [Fact]
    public async Task O_TMPFILE_makes_an_unnamed_file_that_linkat_can_name()
    {
        await using var fs = await MountAsync();
        var output = await Shell.OkAsync("""
            mkdir d
            python3 - <<'PY'
            import os
            fd = os.open('d', os.O_TMPFILE | os.O_RDWR, 0o600)
            os.write(fd, b'tmp data')
            os.lseek(fd, 0, 0)
            print(os.read(fd, 100), os.listdir('d'), os.fstat(fd).st_nlink)
            # linkat(AT_SYMLINK_FOLLOW) through /proc, as glibc's documentation shows (a dir fd makes Python use linkat)
            os.link(f'/proc/self/fd/{fd}', 'd/named', src_dir_fd=os.open('.', os.O_RDONLY))
            os.close(fd)
            print(open('d/named', 'rb').read(), os.stat('d/named').st_nlink, oct(os.stat('d/named').st_mode))
            PY
            """, fs.Path);
        Assert.Equal("b'tmp data' [] 0\nb'tmp data' 1 0o100600\n", output);
    }

    [Fact]
    public async Task A_truncating_open_by_a_user_removes_set_id_bits_as_a_write_does_and_one_by_root_keeps_them()
    {
        // With ATOMIC_O_TRUNC the kernel leaves the set-id removal of open(O_TRUNC) to the filesystem; it was lost, so
        // `: > f` by another user left a set-user-id file behind. The same user's write shows the kernel's own rule.
        await using var fs = await MountAsync();
        await Shell.OkAsync("""
            chmod 777 .
            for f in t6777 t6767 t4777 t2777 w6767 root6777; do echo data > $f; done
            chmod 6777 t6777 root6777; chmod 6767 t6767 w6767; chmod 4777 t4777; chmod 2777 t2777
            setpriv --reuid 1234 --regid 1234 --clear-groups sh -c ': > t6777; : > t6767; : > t4777; : > t2777; echo more >> w6767'
            : > root6777
            """, fs.Path);
        Assert.Equal("t6777 777 0\nt6767 2767 0\nt4777 777 0\nt2777 777 0\nw6767 2767 10\nroot6777 6777 0\n",
            await Shell.OkAsync("stat -c '%n %a %s' t6777 t6767 t4777 t2777 w6767 root6777", fs.Path));
    }

    [Fact]
    public async Task Ls_shows_created_files_directories_and_symlinks_with_their_modes()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("mkdir dir && echo hi > file && chmod 640 file && ln -s file link", fs.Path);
        var ls = await Shell.OkAsync("ls -la", fs.Path);
        Assert.Matches(@"(?m)^drwxr-xr-x +\d+ root root +\d+ .* dir$", ls);
        Assert.Matches(@"(?m)^-rw-r----- +1 root root +3 .* file$", ls);
        Assert.Matches(@"(?m)^lrwxrwxrwx +1 root root +4 .* link -> file$", ls);
    }

    [Fact]
    public async Task Cp_a_of_a_tree_is_identical_by_diff_r()
    {
        await using var fs = await MountAsync();
        var src = Directory.CreateTempSubdirectory("fuseactors-src-").FullName;
        try
        {
            await Shell.OkAsync($"""
                cd {src} && mkdir -p a/b/c e && for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom > a/f$i; done
                echo nested > a/b/c/deep && ln -s ../a/f1 e/rel && ln a/f2 a/hard && chmod 600 a/f3 && touch -d '2001-02-03 04:05:06.123456789' a/f4
                """);
            await Shell.OkAsync($"cp -a {src}/. {fs["copy"]}/");
            await Shell.OkAsync($"diff -r --no-dereference {src} {fs["copy"]}");
            // cp -a keeps modes and nanosecond times.
            Assert.Equal(await Shell.OkAsync($"stat -c '%a %y' {src}/a/f3 {src}/a/f4"), await Shell.OkAsync($"stat -c '%a %y' {fs["copy/a/f3"]} {fs["copy/a/f4"]}"));
        }
        finally { Directory.Delete(src, true); }
    }

    [Fact]
    public async Task Mv_renames_within_and_across_directories_and_replaces_targets()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("mkdir d1 d2 && echo one > d1/a && echo two > d2/b && mv d1/a d1/a2 && mv d1/a2 d2/ && mv d2/a2 d2/b", fs.Path);
        Assert.Equal("one\n", await Shell.OkAsync("cat d2/b", fs.Path));
        Assert.Equal("b\n", await Shell.OkAsync("ls d2", fs.Path));
        Assert.Equal("", await Shell.OkAsync("ls d1", fs.Path));
        await Shell.OkAsync("mkdir -p d3/sub && mv d3 d1/ && test -d d1/d3/sub", fs.Path);
        var r = await Shell.RunAsync("mkdir full && touch full/x && mkdir e && mv -T e full", fs.Path);
        Assert.NotEqual(0, r.ExitCode); // cannot replace a non-empty directory
        Assert.Contains("not empty", r.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Ln_makes_hard_links_and_ln_s_symlinks_that_readlink_reads()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("echo data > f && ln f g && ln -s f s && ln -s /absolute/elsewhere dangling", fs.Path);
        Assert.Equal("2 2\n", await Shell.OkAsync("stat -c %h f | tr '\\n' ' ' && stat -c %h g", fs.Path));
        Assert.Equal(await Shell.OkAsync("stat -c %i f", fs.Path), await Shell.OkAsync("stat -c %i g", fs.Path));
        Assert.Equal("f\n", await Shell.OkAsync("readlink s", fs.Path));
        Assert.Equal("/absolute/elsewhere\n", await Shell.OkAsync("readlink dangling", fs.Path));
        Assert.Equal("data\n", await Shell.OkAsync("cat s", fs.Path));
        await Shell.OkAsync("rm f", fs.Path);
        Assert.Equal("1 data\n", await Shell.OkAsync("stat -c '%h ' g | tr -d '\\n' && cat g", fs.Path));
    }

    [Fact]
    public async Task Chmod_chown_touch_d_and_truncate_change_attributes()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("echo hello > f && chown 1234:5678 f && chmod 4751 f && touch -d '2020-01-02 03:04:05.987654321 +0000' f", fs.Path);
        Assert.Equal("4751 1234 5678 2020-01-02 03:04:05.987654321 +0000\n", await Shell.OkAsync("TZ=UTC stat -c '%a %u %g %y' f", fs.Path));
        await Shell.OkAsync("truncate -s 100000 f", fs.Path);
        Assert.Equal("100000\n", await Shell.OkAsync("stat -c %s f", fs.Path));
        Assert.Equal("hello\n", await Shell.OkAsync("head -c 6 f", fs.Path));
        await Shell.OkAsync("truncate -s 3 f", fs.Path);
        Assert.Equal("hel", await Shell.OkAsync("cat f", fs.Path));
    }

    [Fact]
    public async Task Dd_of_a_256_MiB_file_reads_back_with_the_same_checksum()
    {
        await using var fs = await MountAsync();
        var src = Path.Combine(Path.GetTempPath(), $"fuseactors-big-{Guid.NewGuid():N}");
        try
        {
            await Shell.OkAsync($"head -c {256 << 20} /dev/urandom > {src}");
            await Shell.OkAsync($"dd if={src} of={fs["big"]} bs=1M status=none", timeout: TimeSpan.FromMinutes(3));
            var expected = (await Shell.OkAsync($"sha256sum < {src}")).Split(' ')[0];
            // Read back through the kernel page cache and with O_DIRECT straight from the filesystem.
            Assert.Equal(expected, (await Shell.OkAsync($"dd if={fs["big"]} bs=1M status=none | sha256sum")).Split(' ')[0]);
            Assert.Equal(expected, (await Shell.OkAsync($"dd if={fs["big"]} bs=1M iflag=direct status=none | sha256sum")).Split(' ')[0]);
            Assert.Equal($"{256 << 20}\n", await Shell.OkAsync($"stat -c %s {fs["big"]}"));
        }
        finally { File.Delete(src); }
    }

    [Fact]
    public async Task Sparse_files_read_zeros_in_holes_and_seek_data_finds_the_data()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("truncate -s 4G sparse && printf tail | dd of=sparse bs=1 seek=$((3 << 30)) conv=notrunc status=none", fs.Path);
        Assert.Equal("4294967296\n", await Shell.OkAsync("stat -c %s sparse", fs.Path));
        await Shell.OkAsync("cmp -n 1048576 sparse /dev/zero", fs.Path);
        Assert.Equal("tail", await Shell.OkAsync("dd if=sparse bs=1 skip=$((3 << 30)) count=4 status=none", fs.Path));
        // Only the written chunk is allocated.
        var blocks = long.Parse((await Shell.OkAsync("stat -c %b sparse", fs.Path)).Trim());
        Assert.InRange(blocks, 1, 1024);
    }

    [Fact]
    public async Task Find_lists_every_file_of_a_tree()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("for d in $(seq 1 10); do mkdir -p t/d$d/s; for f in $(seq 1 20); do echo $f > t/d$d/s/f$f; done; done", fs.Path);
        Assert.Equal("200\n", await Shell.OkAsync("find t -type f | wc -l", fs.Path));
        Assert.Equal("21\n", await Shell.OkAsync("find t -type d | wc -l", fs.Path));
        Assert.Equal("10\n", await Shell.OkAsync("find t -name f7 | wc -l", fs.Path));
    }

    [Fact]
    public async Task Tar_round_trip_restores_an_identical_tree()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("""
            mkdir -p src/x/y && for i in $(seq 1 30); do head -c $((i * 3001)) /dev/urandom > src/x/f$i; done
            ln -s f1 src/x/link && mkfifo src/fifo && chmod 700 src/x/y
            tar -C src -cf archive.tar . && mkdir out && tar -C out -xpf archive.tar && diff -r --no-dereference --exclude=fifo src out && test -p out/fifo
            """, fs.Path);
        Assert.Equal(await Shell.OkAsync("stat -c '%A %Y' src/x/y src/fifo", fs.Path), await Shell.OkAsync("stat -c '%A %Y' out/x/y out/fifo", fs.Path));
    }

    [Fact]
    public async Task Setfattr_and_getfattr_store_list_and_remove_extended_attributes()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("touch f && setfattr -n user.colour -v blue f && setfattr -n user.big -v 0x$(head -c 4000 /dev/zero | od -An -tx1 -v | tr -d ' \\n') f", fs.Path);
        Assert.Equal("blue", await Shell.OkAsync("getfattr --only-values -n user.colour f", fs.Path));
        var dump = await Shell.OkAsync("getfattr -d f", fs.Path);
        Assert.Contains("user.colour=\"blue\"", dump);
        Assert.Contains("user.big=", dump);
        var missing = await Shell.RunAsync("getfattr -n user.nothing f", fs.Path);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("No such attribute", missing.Stderr);
        await Shell.OkAsync("setfattr -x user.colour f", fs.Path);
        Assert.DoesNotContain("user.colour", await Shell.OkAsync("getfattr -d f", fs.Path));
    }

    [Fact]
    public async Task Git_init_add_and_commit_work_inside_the_mount()
    {
        await using var fs = await MountAsync();
        var log = await Shell.OkAsync("""
            git init -q repo && cd repo && for i in $(seq 1 20); do echo "line $i" > file$i.txt; done
            mkdir sub && echo nested > sub/n.txt && git add . && git commit -qm first
            echo change >> file1.txt && git commit -qam second && git mv file2.txt renamed.txt && git commit -qm third
            git fsck --strict 2>&1 && git status --porcelain && git log --oneline | wc -l
            """, fs.Path, TimeSpan.FromMinutes(2));
        Assert.EndsWith("3\n", log);
        Assert.DoesNotContain("error", log);
    }

    [Fact]
    public async Task Many_processes_write_and_read_at_once_without_losing_data()
    {
        await using var fs = await MountAsync();
        var output = await Shell.OkAsync("""
            mkdir work && for p in $(seq 1 8); do
              ( for i in $(seq 1 25); do head -c $(( (p * 7919 + i * 104729) % 300000 + 1 )) /dev/urandom > /tmp/fa-src-$$-$p;
                  cp /tmp/fa-src-$$-$p work/p$p-$i && cmp /tmp/fa-src-$$-$p work/p$p-$i || echo "MISMATCH p$p-$i"; done; rm -f /tmp/fa-src-$$-$p ) &
            done; wait; ls work | wc -l
            """, fs.Path, TimeSpan.FromMinutes(3));
        Assert.Equal("200\n", output);
    }

    [Fact]
    public async Task An_unlinked_file_stays_readable_through_an_open_descriptor()
    {
        await using var fs = await MountAsync();
        Assert.Equal("still here\n", await Shell.OkAsync("echo 'still here' > f && exec 3< f && rm f && test ! -e f && cat <&3", fs.Path));
    }

    [Fact]
    public async Task Rmdir_refuses_non_empty_directories_and_rm_r_removes_trees()
    {
        await using var fs = await MountAsync();
        await Shell.OkAsync("mkdir -p a/b/c && touch a/b/c/f", fs.Path);
        var r = await Shell.RunAsync("rmdir a", fs.Path);
        Assert.Contains("not empty", r.Stderr, StringComparison.OrdinalIgnoreCase);
        await Shell.OkAsync("rm -r a && test ! -e a", fs.Path);
        Assert.Equal("", await Shell.OkAsync("ls -A", fs.Path));
    }

    [Fact]
    public async Task Df_reports_the_filesystem_size_and_usage()
    {
        await using var fs = await MountAsync();
        var df = await Shell.OkAsync($"df -B1 --output=size,used,avail {fs.Path} | tail -1");
        var parts = df.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        Assert.True(parts[0] > 0 && parts[2] > 0, df);
    }
}

using Akka.Actor;
using FuseActors.Filesystems.MemoryFs;
using FuseActors.Filesystems.Passthrough;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// On a real mount, a name is bytes (issue 9, item 1). Before, the engine decoded names as UTF-8, so
/// <c>caf\xe8</c> and <c>caf\xe9</c> (Latin-1 è and é) both became <c>caf\uFFFD</c>: the second create with O_EXCL
/// failed with EEXIST, a tar holding both extracted (exit 0) into one file, and a passthrough host file whose name
/// is not UTF-8 was listed under another name and could not be opened. Each fact runs on MemoryFs and PassthroughFs.
/// </summary>
public sealed class ByteNameMountTests : IDisposable
{
    private readonly string _source = Directory.CreateTempSubdirectory("fuseactors-bytes-").FullName;

    public void Dispose() => RemoveTree(_source);

    /// <summary>rm -rf: .NET's Directory.Delete lists names as UTF-16 strings, so it cannot remove these very files.</summary>
    private static void RemoveTree(string path) => Shell.RunAsync($"rm -rf '{path}'").GetAwaiter().GetResult();

    public static TheoryData<string> Filesystems => ["memfs", "passthrough"];

    private Props PropsOf(string fs) => fs == "memfs" ? MemoryFs.Props() : PassthroughFs.Props(_source);

    [Theory]
    [MemberData(nameof(Filesystems))]
    public async Task Shell_names_that_differ_only_in_non_UTF8_bytes_are_two_files(string fs)
    {
        await using var mount = await MountedFilesystem.StartAsync(PropsOf(fs));
        // printf's octal escapes put the raw bytes 0xE8 and 0xE9 into the names.
        var output = await Shell.OkAsync("""
            set -e
            export LC_ALL=C
            printf 'grave' > "$(printf 'caf\350')"
            printf 'acute' > "$(printf 'caf\351')"
            ls | wc -l
            ls | od -An -tx1 | tr -d ' \n'
            echo
            cat "$(printf 'caf\350')"; echo
            cat "$(printf 'caf\351')"; echo
            """, mount.Path);
        Assert.Equal("""
            2
            636166e80a636166e90a
            grave
            acute
            """, output.TrimEnd());
    }

    [Theory]
    [MemberData(nameof(Filesystems))]
    public async Task Python_sees_byte_names_round_trip_and_O_EXCL_keeps_them_apart(string fs)
    {
        await using var mount = await MountedFilesystem.StartAsync(PropsOf(fs));
        var output = await Shell.OkAsync("""
            python3 - <<'PY'
            import os
            for name, data in ((b'x\xff', b'ff'), (b'x\xfe', b'fe')):
                fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, data)
                os.close(fd)
            # PEP 383: str names with surrogate escapes are the same bytes.
            os.mkdir('d\udce8')
            os.rename(b'x\xff', b'd\xe8/\xff')
            os.symlink(b'd\xe8/\xff', b'link\xe9')
            print(sorted(os.listdir(b'.')))
            print(sorted(os.listdir('.')) == sorted(os.fsdecode(n) for n in os.listdir(b'.')))
            print(os.readlink(b'link\xe9'))
            print(open(b'link\xe9', 'rb').read(), open(b'x\xfe', 'rb').read())
            os.unlink(b'x\xfe')
            print(sorted(os.listdir(b'.')), os.listdir(b'd\xe8'))
            PY
            """, mount.Path);
        Assert.Equal("""
            [b'd\xe8', b'link\xe9', b'x\xfe']
            True
            b'd\xe8/\xff'
            b'ff' b'fe'
            [b'd\xe8', b'link\xe9'] [b'\xff']
            """, output.TrimEnd());
    }

    [Theory]
    [MemberData(nameof(Filesystems))]
    public async Task CPythons_PEP_383_tests_pass_on_the_mount(string fs)
    {
        await using var mount = await MountedFilesystem.StartAsync(PropsOf(fs));
        // The tests make their files relative to the working directory, i.e. on the mount.
        var r = await Shell.RunAsync("python3 -m unittest test.test_os.Pep383Tests 2>&1", mount.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("OK", r.Stdout);
    }

    [Theory]
    [MemberData(nameof(Filesystems))]
    public async Task Tar_with_names_that_decode_alike_extracts_every_file(string fs)
    {
        var staging = Directory.CreateTempSubdirectory("fuseactors-tar-").FullName;
        try
        {
            await Shell.OkAsync("""
                set -e
                mkdir in && cd in
                printf 'grave' > "$(printf 'caf\350')"
                printf 'acute' > "$(printf 'caf\351')"
                tar -cf ../names.tar *
                """, staging);
            await using var mount = await MountedFilesystem.StartAsync(PropsOf(fs));
            var output = await Shell.OkAsync($"""
                set -e
                tar -xf '{staging}/names.tar'
                ls | wc -l
                cat "$(printf 'caf\350')" "$(printf 'caf\351')"; echo
                """, mount.Path);
            Assert.Equal("2\ngraveacute", output.TrimEnd());
        }
        finally
        {
            RemoveTree(staging);
        }
    }

    [Fact]
    public async Task Passthrough_lists_and_opens_a_host_file_whose_name_is_not_UTF8()
    {
        await Shell.OkAsync("printf 'from the host' > \"$(printf 'h\\377st')\"", _source);
        await using var mount = await MountedFilesystem.StartAsync(PassthroughFs.Props(_source));
        var output = await Shell.OkAsync("""
            set -e
            ls | od -An -tx1 | tr -d ' \n'
            echo
            cat "$(printf 'h\377st')"
            """, mount.Path);
        Assert.Equal("68ff73740a\nfrom the host", output.TrimEnd());
    }
}

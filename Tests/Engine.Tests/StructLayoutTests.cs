using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;
using Xunit.Abstractions;

namespace FuseActors.Engine.Tests;

/// <summary>
/// Checks every kernel ABI struct of Engine/Protocol/Structs.cs, field by field, against the C compiler's
/// view of &lt;linux/fuse.h&gt;: Native/fuse_layout.c is compiled with <c>cc</c> at test time and prints
/// sizeof / offsetof / field sizes, plus the opcodes, INIT flags and constants the engine mirrors.
/// Fields the installed header lacks (it may be older than 7.45) are defined in the C file as upstream does.
/// </summary>
public sealed class StructLayoutTests
{
    private readonly ITestOutputHelper _output;
    public StructLayoutTests(ITestOutputHelper output) => _output = output;

    /// <summary>C struct name → its C# mirror. C# field names are the C names in PascalCase
    /// (matched ignoring case and underscores); C arrays are a C# fixed buffer or one field per element.</summary>
    public static readonly IReadOnlyDictionary<string, Type> Mirrors = new Dictionary<string, Type>
    {
        ["fuse_in_header"] = typeof(FuseInHeader),
        ["fuse_out_header"] = typeof(FuseOutHeader),
        ["fuse_attr"] = typeof(FuseAttr),
        ["fuse_kstatfs"] = typeof(FuseKStatFs),
        ["fuse_file_lock"] = typeof(FuseFileLock),
        ["fuse_entry_out"] = typeof(FuseEntryOut),
        ["fuse_forget_in"] = typeof(FuseForgetIn),
        ["fuse_forget_one"] = typeof(FuseForgetOne),
        ["fuse_batch_forget_in"] = typeof(FuseBatchForgetIn),
        ["fuse_getattr_in"] = typeof(FuseGetAttrIn),
        ["fuse_attr_out"] = typeof(FuseAttrOut),
        ["fuse_mknod_in"] = typeof(FuseMkNodIn),
        ["fuse_mkdir_in"] = typeof(FuseMkDirIn),
        ["fuse_rename_in"] = typeof(FuseRenameIn),
        ["fuse_rename2_in"] = typeof(FuseRename2In),
        ["fuse_link_in"] = typeof(FuseLinkIn),
        ["fuse_setattr_in"] = typeof(FuseSetAttrIn),
        ["fuse_open_in"] = typeof(FuseOpenIn),
        ["fuse_create_in"] = typeof(FuseCreateIn),
        ["fuse_open_out"] = typeof(FuseOpenOut),
        ["fuse_release_in"] = typeof(FuseReleaseIn),
        ["fuse_flush_in"] = typeof(FuseFlushIn),
        ["fuse_read_in"] = typeof(FuseReadIn),
        ["fuse_write_in"] = typeof(FuseWriteIn),
        ["fuse_write_out"] = typeof(FuseWriteOut),
        ["fuse_statfs_out"] = typeof(FuseStatFsOut),
        ["fuse_fsync_in"] = typeof(FuseFsyncIn),
        ["fuse_setxattr_in"] = typeof(FuseSetXAttrIn),
        ["fuse_getxattr_in"] = typeof(FuseGetXAttrIn),
        ["fuse_getxattr_out"] = typeof(FuseGetXAttrOut),
        ["fuse_lk_in"] = typeof(FuseLkIn),
        ["fuse_lk_out"] = typeof(FuseLkOut),
        ["fuse_access_in"] = typeof(FuseAccessIn),
        ["fuse_init_in"] = typeof(FuseInitIn),
        ["fuse_init_out"] = typeof(FuseInitOut),
        ["fuse_interrupt_in"] = typeof(FuseInterruptIn),
        ["fuse_bmap_in"] = typeof(FuseBmapIn),
        ["fuse_bmap_out"] = typeof(FuseBmapOut),
        ["fuse_ioctl_in"] = typeof(FuseIoctlIn),
        ["fuse_ioctl_out"] = typeof(FuseIoctlOut),
        ["fuse_poll_in"] = typeof(FusePollIn),
        ["fuse_poll_out"] = typeof(FusePollOut),
        ["fuse_notify_poll_wakeup_out"] = typeof(FuseNotifyPollWakeupOut),
        ["fuse_fallocate_in"] = typeof(FuseFallocateIn),
        ["fuse_dirent"] = typeof(FuseDirent),
        ["fuse_direntplus"] = typeof(FuseDirentPlus),
        ["fuse_notify_inval_inode_out"] = typeof(FuseNotifyInvalInodeOut),
        ["fuse_notify_inval_entry_out"] = typeof(FuseNotifyInvalEntryOut),
        ["fuse_notify_delete_out"] = typeof(FuseNotifyDeleteOut),
        ["fuse_notify_store_out"] = typeof(FuseNotifyStoreOut),
        ["fuse_notify_retrieve_out"] = typeof(FuseNotifyRetrieveOut),
        ["fuse_notify_retrieve_in"] = typeof(FuseNotifyRetrieveIn),
        ["fuse_lseek_in"] = typeof(FuseLseekIn),
        ["fuse_lseek_out"] = typeof(FuseLseekOut),
        ["fuse_copy_file_range_in"] = typeof(FuseCopyFileRangeIn),
        ["fuse_copy_file_range_out"] = typeof(FuseCopyFileRangeOut),
        ["fuse_syncfs_in"] = typeof(FuseSyncFsIn),
        ["fuse_backing_map"] = typeof(FuseBackingMap),
    };

    public static IEnumerable<object[]> StructNames() => Mirrors.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(StructNames))]
    public void Struct_matches_linux_fuse_h(string cName)
    {
        var kernel = KernelAbi.Instance.Value;
        var type = Mirrors[cName];
        Assert.True(kernel.Structs.TryGetValue(cName, out var c), $"fuse_layout.c printed no struct {cName}");

        var errors = new List<string>();
        int unsafeSize = SizeOf(type);
        int marshalSize = Marshal.SizeOf(type);
        if (unsafeSize != c.Size) errors.Add($"sizeof: C {c.Size}, Unsafe.SizeOf<{type.Name}> {unsafeSize}");
        if (marshalSize != c.Size) errors.Add($"sizeof: C {c.Size}, Marshal.SizeOf({type.Name}) {marshalSize}");
        if (c.Size % 8 != 0) errors.Add($"sizeof {c.Size} is not a multiple of 8");

        var csFields = type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .ToDictionary(f => Normalize(f.Name));
        var matched = new HashSet<string>();
        foreach (var (field, offset, size) in c.Fields)
        {
            if (!csFields.TryGetValue(Normalize(field), out var fi))
            {
                errors.Add($"{cName}.{field} (offset {offset}, {size} bytes) has no field in {type.Name}");
                continue;
            }
            if (!matched.Add(fi.Name)) errors.Add($"{cName}.{field} is printed twice by fuse_layout.c");
            int csOffset = (int)Marshal.OffsetOf(type, fi.Name);
            int csSize = Marshal.SizeOf(fi.FieldType);
            if (csOffset != offset) errors.Add($"{cName}.{field}: C offset {offset}, {type.Name}.{fi.Name} offset {csOffset}");
            if (csSize != size) errors.Add($"{cName}.{field}: C size {size}, {type.Name}.{fi.Name} ({fi.FieldType.Name}) size {csSize}");
        }
        foreach (var extra in csFields.Values.Where(f => !matched.Contains(f.Name)))
            errors.Add($"{type.Name}.{extra.Name} has no field in C {cName}");

        _output.WriteLine($"{cName} ({c.Size} bytes, {c.Fields.Count} fields) vs {type.Name}; header 7.{kernel.HeaderMinor}");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    /// <summary>Every kernel ABI struct declared in FuseActors.Engine.Protocol (a packed, Pack = 1 struct; the namespace
    /// also holds codec value types such as OperationInfo and Dirent) is in <see cref="Mirrors"/>, so none escapes the check.</summary>
    [Fact]
    public void Every_protocol_struct_is_checked()
    {
        var declared = typeof(FuseInHeader).Assembly.GetTypes()
            .Where(t => t.IsValueType && !t.IsEnum && !t.IsNested && t.Namespace == typeof(FuseInHeader).Namespace)
            .Where(t => t.GetCustomAttribute<CompilerGeneratedAttribute>() is null && t.StructLayoutAttribute is { Pack: 1 })
            .ToHashSet();
        var missing = declared.Except(Mirrors.Values).Select(t => t.Name).OrderBy(n => n).ToList();
        Assert.True(missing.Count == 0,
            $"structs not compared with linux/fuse.h: {string.Join(", ", missing)}. Add them to Native/fuse_layout.c and to StructLayoutTests.Mirrors.");
    }

    /// <summary>Every struct the C program prints has a mirror (guards edits of the C file).</summary>
    [Fact]
    public void Every_printed_struct_has_a_mirror()
    {
        var unmapped = KernelAbi.Instance.Value.Structs.Keys.Where(k => !Mirrors.ContainsKey(k)).ToList();
        Assert.True(unmapped.Count == 0, $"printed by fuse_layout.c but not mapped: {string.Join(", ", unmapped)}");
    }

    /// <summary>Opcodes, notify codes, INIT flags and FuseConstants against the header's values
    /// (only those the installed header defines; fuse_layout.c guards the newer ones).</summary>
    [Theory]
    [InlineData("opcode")]
    [InlineData("notify")]
    [InlineData("initflag")]
    [InlineData("const")]
    public void Constants_match_linux_fuse_h(string kind)
    {
        var kernel = KernelAbi.Instance.Value;
        var items = kernel.Constants.Where(c => c.Kind == kind).ToList();
        Assert.NotEmpty(items);
        var errors = new List<string>();
        foreach (var (_, name, value) in items)
        {
            ulong? mine = kind switch
            {
                "opcode" => EnumValue(typeof(Opcode), name, "FUSE_"),
                "notify" => EnumValue(typeof(NotifyCode), name, "FUSE_NOTIFY_"),
                "initflag" => EnumValue(typeof(InitFlags), name, "FUSE_"),
                _ => ConstantValue(name),
            };
            if (mine is null) errors.Add($"{name} = {value} has no C# counterpart");
            else if (mine != value) errors.Add($"{name}: C {value} (0x{value:x}), C# {mine} (0x{mine:x})");
        }
        _output.WriteLine($"{items.Count} {kind} values compared; header 7.{kernel.HeaderMinor}");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    private static ulong? EnumValue(Type enumType, string cName, string prefix)
    {
        string key = Normalize(cName.StartsWith(prefix, StringComparison.Ordinal) ? cName[prefix.Length..] : cName);
        foreach (var name in Enum.GetNames(enumType))
            if (Normalize(name) == key)
                return Convert.ToUInt64(Enum.Parse(enumType, name));
        return null;
    }

    private static ulong? ConstantValue(string cName)
    {
        switch (cName)
        {
            // The name of a directory record starts right after the fixed struct (ReadDirRequest relies on it).
            case "FUSE_NAME_OFFSET": return (ulong)Unsafe.SizeOf<FuseDirent>();
            case "FUSE_NAME_OFFSET_DIRENTPLUS": return (ulong)Unsafe.SizeOf<FuseDirentPlus>();
            // The installed header's own minor: informational, the engine speaks a newer one.
            case "FUSE_KERNEL_MINOR_VERSION": return KernelAbi.Instance.Value.HeaderMinor;
        }
        string key = Normalize(cName.StartsWith("FUSE_", StringComparison.Ordinal) ? cName[5..] : cName);
        var field = typeof(FuseConstants).GetFields(BindingFlags.Public | BindingFlags.Static)
            .FirstOrDefault(f => f.IsLiteral && Normalize(f.Name) == key);
        return field is null ? null : Convert.ToUInt64(field.GetRawConstantValue());
    }

    private static string Normalize(string name) => name.Replace("_", "").ToLowerInvariant();

    private static int SizeOf(Type t) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;
}

/// <summary>The output of Native/fuse_layout.c, compiled and run once per test run.</summary>
internal sealed class KernelAbi
{
    public sealed record CStruct(int Size, List<(string Field, int Offset, int Size)> Fields);

    public static readonly Lazy<KernelAbi> Instance = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public Dictionary<string, CStruct> Structs { get; } = new();
    public List<(string Kind, string Name, ulong Value)> Constants { get; } = new();
    public ulong HeaderMinor { get; private set; }

    private static KernelAbi Load()
    {
        string source = FindSource();
        string dir = Path.Combine(Path.GetTempPath(), $"fuseactors-layout-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string exe = Path.Combine(dir, "fuse_layout");
            var (rc, _, err) = Run("cc", dir, "-std=gnu11", "-Wall", "-o", exe, source);
            if (rc != 0)
            {
                string hint = err.Contains("linux/fuse.h", StringComparison.Ordinal)
                    ? "The kernel uapi header <linux/fuse.h> is missing: install linux-libc-dev (Debian/Ubuntu) or kernel-headers."
                    : "Compiling the layout probe failed.";
                throw new InvalidOperationException($"{hint}\ncc exited with {rc}:\n{err}");
            }
            var (rc2, stdout, err2) = Run(exe, dir);
            if (rc2 != 0) throw new InvalidOperationException($"fuse_layout exited with {rc2}:\n{err2}");
            return Parse(stdout);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static KernelAbi Parse(string output)
    {
        var abi = new KernelAbi();
        foreach (var raw in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var p = raw.Split(' ');
            switch (p[0])
            {
                case "struct":
                    abi.Structs[p[1]] = new CStruct(int.Parse(p[2]), new());
                    break;
                case "field":
                    int dot = p[1].IndexOf('.');
                    abi.Structs[p[1][..dot]].Fields.Add((p[1][(dot + 1)..], int.Parse(p[2]), int.Parse(p[3])));
                    break;
                default:
                    abi.Constants.Add((p[0], p[1], ulong.Parse(p[2])));
                    if (p[1] == "FUSE_KERNEL_MINOR_VERSION") abi.HeaderMinor = ulong.Parse(p[2]);
                    break;
            }
        }
        if (abi.Structs.Count == 0) throw new InvalidOperationException($"fuse_layout printed nothing usable:\n{output}");
        return abi;
    }

    /// <summary>Next to the test assembly (copied by the project), else in the source tree.</summary>
    private static string FindSource([CallerFilePath] string thisFile = "")
    {
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "Native", "fuse_layout.c"),
            Path.Combine(Path.GetDirectoryName(thisFile) ?? ".", "Native", "fuse_layout.c"),
        ];
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"Native/fuse_layout.c not found; looked at {string.Join(", ", candidates)}");
    }

    private static (int ExitCode, string StdOut, string StdErr) Run(string file, string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"Cannot run '{file}' ({e.Message}). StructLayoutTests compile Native/fuse_layout.c against <linux/fuse.h>: " +
                "install a C compiler (gcc or clang, reachable as 'cc') and linux-libc-dev.", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} did not finish within 60 s");
            }
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}

using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Tests.Protocol;

/// <summary>
/// The operation table against the kernel: Native/fuse_layout.c (compiled against linux/fuse.h by
/// <see cref="KernelAbi"/>) prints, per opcode, the request struct the kernel sends, how many names follow it and the
/// fixed reply size; the ENOSYS-sticky set is fuse-protocol.md §2.4.
/// </summary>
public sealed class OperationTableTests
{
    /// <summary>fuse-protocol.md §2.4: one ENOSYS switches these off for the connection.</summary>
    private static readonly Opcode[] EnosysSticky =
    [
        Opcode.Open, Opcode.OpenDir, Opcode.Create, Opcode.Flush, Opcode.Access, Opcode.Interrupt,
        Opcode.CopyFileRange64, Opcode.Statx, Opcode.Fsync, Opcode.FsyncDir, Opcode.GetXAttr, Opcode.SetXAttr,
        Opcode.ListXAttr, Opcode.RemoveXAttr, Opcode.Bmap, Opcode.Poll, Opcode.Fallocate, Opcode.Rename2, Opcode.Lseek,
        Opcode.CopyFileRange, Opcode.TmpFile, Opcode.SyncFs, Opcode.Link,
    ];

    /// <summary>Opcodes whose table minimum is deliberately below the struct the current kernel sends.</summary>
    private static readonly Dictionary<Opcode, int> ShorterThanStruct = new()
    {
        // major and minor only: what an INIT of any version carries, enough to answer with our version.
        [Opcode.Init] = 8,
    };

    public static IEnumerable<object[]> AllOpcodes() => Enum.GetValues<Opcode>().Select(o => new object[] { o });

    [Theory]
    [MemberData(nameof(AllOpcodes))]
    public void Every_opcode_has_a_row(Opcode opcode)
    {
        Assert.True(Operations.TryGet(opcode, out var info), $"{opcode} has no row");
        Assert.Equal(opcode, info.Opcode);
        Assert.False(string.IsNullOrEmpty(info.Name));
        Assert.Equal(info, Operations.For(opcode));
    }

    [Fact]
    public void The_table_lists_each_opcode_once_in_order()
    {
        var rows = Operations.All.Select(r => r.Opcode).ToList();
        Assert.Equal(Enum.GetValues<Opcode>().OrderBy(o => o), rows);
    }

    [Fact]
    public void Names_are_the_kernels()
    {
        var printed = Printed("opbody");
        Assert.Equal(Enum.GetValues<Opcode>().Length, printed.Count);
        foreach (var (cName, _) in printed)
            Assert.Equal(cName["FUSE_".Length..], Operations.For(OpcodeOf(cName)).Name);
    }

    [Fact]
    public void Min_body_size_is_the_request_struct_plus_two_bytes_per_name()
    {
        var names = Printed("opnames");
        var errors = new List<string>();
        foreach (var (cName, structSize) in Printed("opbody"))
        {
            var op = OpcodeOf(cName);
            int expected = ShorterThanStruct.TryGetValue(op, out int shorter) ? shorter : (int)structSize + 2 * (int)names[cName];
            int actual = Operations.For(op).MinBodySize;
            if (actual != expected) errors.Add($"{cName}: table {actual}, kernel struct {structSize} + {names[cName]} name(s) → {expected}");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void Fixed_reply_sizes_match_the_kernels_reply_structs()
    {
        var replies = Printed("opreply");
        var errors = new List<string>();
        foreach (var info in Operations.All)
        {
            string cName = "FUSE_" + info.Name;
            bool printed = replies.TryGetValue(cName, out ulong size);
            if (info.Reply == ReplyKind.Fixed && !printed) errors.Add($"{cName}: fixed in the table, no fixed reply in fuse_layout.c");
            else if (info.Reply != ReplyKind.Fixed && printed) errors.Add($"{cName}: {info.Reply} in the table, fixed {size} in fuse_layout.c");
            else if (printed && info.ReplySize != (int)size) errors.Add($"{cName}: table {info.ReplySize}, kernel {size}");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void Enosys_sticky_set_is_fuse_protocol_section_2_4()
    {
        var sticky = Operations.All.Where(r => r.EnosysSticky).Select(r => r.Opcode).OrderBy(o => o);
        Assert.Equal(EnosysSticky.OrderBy(o => o), sticky);
    }

    [Fact]
    public void Only_forget_batch_forget_interrupt_and_notify_reply_go_unanswered()
    {
        var unanswered = Operations.All.Where(r => !r.ExpectsReply).Select(r => r.Opcode).OrderBy(o => o);
        Assert.Equal([Opcode.Forget, Opcode.Interrupt, Opcode.NotifyReply, Opcode.BatchForget], unanswered);
        foreach (var op in unanswered) Assert.Equal(ReplyShape.None, Operations.ReplyShapeFor(op, default));
    }

    [Fact]
    public void Switches_off_only_on_enosys_to_a_sticky_operation()
    {
        Assert.True(Operations.SwitchesOff(Opcode.Open, Errno.ENOSYS));
        Assert.False(Operations.SwitchesOff(Opcode.Open, Errno.EIO));
        Assert.False(Operations.SwitchesOff(Opcode.GetAttr, Errno.ENOSYS)); // passed straight to the caller
        Assert.False(Operations.SwitchesOff((Opcode)4096, Errno.ENOSYS));
    }

    [Fact]
    public void Reply_shapes_that_depend_on_the_request_body()
    {
        Assert.Equal(ReplyShape.UpTo(4096), Operations.ReplyShapeFor(Opcode.Read, Wire.Bytes(new FuseReadIn { Size = 4096 })));
        Assert.Equal(ReplyShape.UpTo(32768), Operations.ReplyShapeFor(Opcode.ReadDirPlus, Wire.Bytes(new FuseReadIn { Size = 32768 })));
        Assert.Equal(ReplyShape.Exactly(8), Operations.ReplyShapeFor(Opcode.GetXAttr, Wire.Bytes(new FuseGetXAttrIn { Size = 0 })));
        Assert.Equal(ReplyShape.UpTo(100), Operations.ReplyShapeFor(Opcode.ListXAttr, Wire.Bytes(new FuseGetXAttrIn { Size = 100 })));
        Assert.Equal(ReplyShape.FixedThenUpTo(16, 10), Operations.ReplyShapeFor(Opcode.Ioctl, Wire.Bytes(new FuseIoctlIn { OutSize = 10 })));
        Assert.Equal(ReplyShape.UpTo(ReplyShape.ReadLinkMax), Operations.ReplyShapeFor(Opcode.ReadLink, default));
        Assert.Equal(ReplyShape.UpTo(64), Operations.ReplyShapeFor(Opcode.Init, default));
        // A body too short for its size field is size 0.
        Assert.Equal(ReplyShape.UpTo(0), Operations.ReplyShapeFor(Opcode.Read, new byte[8]));
    }

    [Fact]
    public void An_unknown_opcode_accepts_any_reply_and_is_not_sticky()
    {
        var cuseInit = (Opcode)4096;
        Assert.False(Operations.TryGet(cuseInit, out _));
        Assert.False(Operations.TryGet((Opcode)7, out _)); // unassigned
        var info = Operations.For(cuseInit);
        Assert.Equal("OPCODE_4096", info.Name);
        Assert.True(info.ExpectsReply);
        Assert.False(info.EnosysSticky);
        Assert.Equal(ReplyShape.Any, Operations.ReplyShapeFor(cuseInit, default));
    }

    private static Dictionary<string, ulong> Printed(string kind)
    {
        var d = new Dictionary<string, ulong>();
        foreach (var (k, name, value) in KernelAbi.Instance.Value.Constants)
            if (k == kind) d[name] = value;
        Assert.NotEmpty(d);
        return d;
    }

    private static Opcode OpcodeOf(string cName)
    {
        string key = cName["FUSE_".Length..].Replace("_", "");
        foreach (var op in Enum.GetValues<Opcode>())
            if (string.Equals(op.ToString(), key, StringComparison.OrdinalIgnoreCase)) return op;
        throw new InvalidOperationException($"{cName} printed by fuse_layout.c has no Opcode");
    }
}

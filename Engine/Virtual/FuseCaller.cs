namespace FuseActors.Engine.Virtual;

/// <summary>
/// The identity a request is sent on behalf of: what the kernel puts in <c>fuse_in_header.uid/gid/pid</c>
/// (the caller's fsuid, fsgid and thread id).
/// </summary>
public readonly record struct FuseCaller(uint Uid, uint Gid, uint Pid)
{
    /// <summary>uid 0, gid 0, pid 0: what the kernel uses for its own requests (INIT, INTERRUPT, FORGET).</summary>
    public static FuseCaller Kernel => default;

    /// <summary>root (uid 0, gid 0) with this process's id as pid.</summary>
    public static FuseCaller Root => new(0, 0, (uint)Environment.ProcessId);

    public override string ToString() => $"uid={Uid} gid={Gid} pid={Pid}";
}

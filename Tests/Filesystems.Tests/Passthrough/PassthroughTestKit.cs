using FuseActors.Filesystems.Passthrough;

namespace FuseActors.Filesystems.Tests.PassthroughTests;

/// <summary>
/// <see cref="FilesystemUnitTestKit{TActor}"/> on a fresh <see cref="PassthroughFs"/>, called as root. Each test gets a fresh
/// BASE directory holding SOURCE (<see cref="Source"/>) and a sibling OUTSIDE (<see cref="Outside"/>) that nothing may ever touch through the actor.
/// </summary>
public abstract class PassthroughTestKit : FilesystemUnitTestKit<PassthroughFs>
{
    protected const uint Uid = 0;
    protected const uint Gid = 0;

    protected readonly string Base;
    protected readonly string Source;
    protected readonly string Outside;

    protected PassthroughTestKit(PassthroughOptions? options = null) : base(Uid, Gid)
    {
        Base = Directory.CreateTempSubdirectory("fuseactors-ptunit-").FullName;
        Source = Directory.CreateDirectory(Path.Combine(Base, "src")).FullName;
        Outside = Directory.CreateDirectory(Path.Combine(Base, "outside")).FullName;
        Fs = ActorOfAsTestActorRef<PassthroughFs>(PassthroughFs.Props(Source, options), "passthrough");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        try { Directory.Delete(Base, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A name that is not UTF-8 (PassthroughByteNameTests makes them) cannot be spelled through .NET's paths, so
            // Directory.Delete leaves it and its directories behind: rm takes the names as bytes.
            using var rm = System.Diagnostics.Process.Start("rm", ["-rf", "--", Base]);
            rm.WaitForExit();
        }
    }

    protected string InSource(string relative) => Path.Combine(Source, relative);

    /// <summary>Everything below OUTSIDE, to prove it stayed untouched.</summary>
    protected string[] OutsideContents() =>
        Directory.EnumerateFileSystemEntries(Outside, "*", SearchOption.AllDirectories).Order().ToArray();
}

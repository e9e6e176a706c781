namespace FuseActors.Integration.Tests.Support;

/// <summary>A fresh directory under the system's temporary directory (a passthrough mount's SOURCE), removed with
/// everything in it when disposed; a removal the host refuses (a file left immutable, a mount still inside) is left
/// behind rather than failing the test that already ran.</summary>
public sealed class TempDirectory(string prefix) : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

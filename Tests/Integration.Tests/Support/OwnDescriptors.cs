namespace FuseActors.Integration.Tests.Support;

/// <summary>This test process's own open descriptors (the daemon under test runs in it): what a filesystem holds open.</summary>
public static class OwnDescriptors
{
    /// <summary>The targets of this process's descriptors of deleted files under the directory <paramref name="source"/>.</summary>
    public static List<string> DeletedUnder(string source)
    {
        var found = new List<string>();
        foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(link).LinkTarget; } catch (IOException) { continue; }
            if (target is not null && target.StartsWith(source + "/") && target.EndsWith(" (deleted)")) found.Add(target);
        }
        return found;
    }

    /// <summary>The open flags (fdinfo's octal "flags:") of each of this process's descriptors of <paramref name="path"/>.</summary>
    public static List<int> FlagsOf(string path)
    {
        var flags = new List<int>();
        foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(link).LinkTarget; } catch (IOException) { continue; }
            if (target != path) continue;
            string info;
            try { info = File.ReadAllText($"/proc/self/fdinfo/{Path.GetFileName(link)}"); } catch (IOException) { continue; }
            var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("flags:"));
            if (line is not null) flags.Add(Convert.ToInt32(line["flags:".Length..].Trim(), 8));
        }
        return flags;
    }
}

namespace FuseActors.Integration.Tests.Support;

/// <summary>What /proc says about this process's threads: scheduling policy, thread id, session, threads by name.</summary>
public static class ThreadStats
{
    /// <summary>Thread <paramref name="tid"/>'s scheduling policy (-1: the thread ended meanwhile).</summary>
    public static int Policy(int tid) => Field(TryRead($"/proc/self/task/{tid}/stat"), 41);

    /// <summary>The calling thread's scheduling policy.</summary>
    public static int PolicyOfThisThread() => Field(File.ReadAllText("/proc/thread-self/stat"), 41);

    /// <summary>The calling thread's id.</summary>
    public static int ThisThreadId() => Field(File.ReadAllText("/proc/thread-self/stat"), 1);

    /// <summary>This process's session id.</summary>
    public static int Session() => Field(File.ReadAllText("/proc/self/stat"), 6);

    public static IEnumerable<int> ThreadsNamed(string name) =>
        Directory.GetDirectories("/proc/self/task")
            .Select(d => (Tid: int.Parse(Path.GetFileName(d)), Comm: TryRead(Path.Combine(d, "comm"))))
            .Where(t => t.Comm?.TrimEnd('\n') == name)
            .Select(t => t.Tid);

    /// <summary>Field <paramref name="n"/> (from 1) of a stat line; the command name (field 2) may hold spaces and
    /// parentheses, so fields from 3 on are counted after its closing ") ". -1 for no line.</summary>
    private static int Field(string? stat, int n)
    {
        if (stat is null) return -1;
        if (n == 1) return int.Parse(stat[..stat.IndexOf(' ')]);
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[n - 3]);
    }

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; } // the thread ended meanwhile
    }
}

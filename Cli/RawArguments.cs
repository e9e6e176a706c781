using System.Text;

namespace FuseActors.Cli;

/// <summary>
/// The command-line arguments as the exact bytes exec(2) was given. .NET decodes argv as UTF-8 and puts U+FFFD where
/// a byte is not UTF-8, so a path such as <c>src-caf\xe8</c> (Latin-1) cannot be recovered from <c>string[] args</c>;
/// <c>/proc/self/cmdline</c> still has the bytes (NUL-separated, host and dll path first).
/// </summary>
internal static class RawArguments
{
    /// <summary>The bytes of each of <paramref name="args"/>; null when none holds U+FFFD (nothing to recover) or
    /// /proc/self/cmdline does not end with arguments that decode to them.</summary>
    public static byte[][]? Read(string[] args)
    {
        if (!args.Any(a => a.Contains('\uFFFD'))) return null;
        byte[] cmdline;
        try { cmdline = File.ReadAllBytes("/proc/self/cmdline"); }
        catch (IOException) { return null; }
        var all = Split(cmdline);
        if (all.Count < args.Length) return null;
        var raw = all.GetRange(all.Count - args.Length, args.Length).ToArray();
        for (int i = 0; i < args.Length; i++)
            if (Encoding.UTF8.GetString(raw[i]) != args[i]) return null;
        return raw;
    }

    /// <summary>NUL-terminated strings, one after the other.</summary>
    internal static List<byte[]> Split(ReadOnlySpan<byte> cmdline)
    {
        var parts = new List<byte[]>();
        while (!cmdline.IsEmpty)
        {
            int nul = cmdline.IndexOf((byte)0);
            if (nul < 0) nul = cmdline.Length;
            parts.Add(cmdline[..nul].ToArray());
            cmdline = nul < cmdline.Length ? cmdline[(nul + 1)..] : default;
        }
        return parts;
    }
}

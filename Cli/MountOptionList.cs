using System.Globalization;
using System.Text;
using Akka.Configuration;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Cli;

/// <summary>
/// <c>-o OPTIONS</c> as libfuse, mount(8) and tmpfs spell them: comma-separated, <c>-o</c> repeatable, the last one of
/// a key wins. Each option becomes a HOCON key in a Config that goes in front of the loaded one, so <c>-o</c> wins over
/// <c>--config</c> and akka.hocon. An option that is not in <see cref="Known"/> is an error naming it.
/// </summary>
internal static class MountOptionList
{
    public const string Known =
        "ro, rw, allow_other, noallow_other, default_permissions, nodefault_permissions, fsname=, subtype=, max_read=, " +
        "auto_unmount, max_write=, max_readahead=, max_background=, congestion_threshold=, entry_timeout=, attr_timeout=, " +
        "negative_timeout=, size= and nr_inodes= (memfs), nodev, nosuid, exec, async, atime";

    /// <summary>Options that every mount of ours has whatever is asked, accepted so that fstab lines and scripts written
    /// for libfuse work: the engine always mounts nodev and nosuid (as fusermount does), and exec, async and atime are
    /// the kernel's defaults that nothing here changes. Their opposites (dev, suid, noexec, noatime, sync) would not be
    /// honoured, so they stay unknown.</summary>
    private static readonly HashSet<string> Harmless = ["nodev", "nosuid", "exec", "async", "atime"];

    /// <summary>The options of every <c>-o</c> as HOCON for a mount of <paramref name="kind"/>; null with a one-line
    /// error naming the option when one is unknown, has a bad value or does not apply to the filesystem.</summary>
    public static Config? ToConfig(string kind, IReadOnlyList<string> optionLists, out string? error)
    {
        error = null;
        var hocon = new StringBuilder();
        foreach (var list in optionLists)
        {
            foreach (var option in list.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = option.IndexOf('=');
                var name = eq < 0 ? option : option[..eq];
                var value = eq < 0 ? null : option[(eq + 1)..];
                string? line = name switch
                {
                    "size" or "nr_inodes" when kind != "memfs" => Fail($"-o {name}= is only for memfs", out error),
                    "size" => value is null ? Fail("-o size needs a value (size=50%, 512m, 2g or bytes)", out error)
                        : ValidSize(value) ? $"fuseactors.memory-fs.size = {Quote(value)}"
                        : Fail($"-o size: '{value}' is not a size (50%, 512m, 2g or a number of bytes)", out error),
                    "nr_inodes" => ParseCount(value) is { } n ? $"fuseactors.memory-fs.max-inodes = {n.ToString(CultureInfo.InvariantCulture)}"
                        : Fail($"-o nr_inodes: '{value}' is not a number of inodes (a positive number with an optional k, m or g)", out error),
                    _ when value is not null && (Flags.ContainsKey(name) || Harmless.Contains(name)) => Fail($"-o {name} takes no value", out error),
                    _ when Flags.TryGetValue(name, out var flag) => flag,
                    _ when Harmless.Contains(name) => "",
                    "subtype" or "fsname" => string.IsNullOrEmpty(value) ? Fail($"-o {name} needs a name ({name}=NAME)", out error)
                        : $"fuseactors.mount.{name} = {Quote(value)}",
                    _ when Numbers.TryGetValue(name, out var number) => Number(name, value, number, out error),
                    "entry_timeout" or "attr_timeout" or "negative_timeout" => Timeout(name, value, out error),
                    _ => Fail($"unknown mount option '{option}' (known: {Known})", out error),
                };
                if (line is null) return null;
                if (line.Length > 0) hocon.Append(line).Append('\n');
            }
        }
        return hocon.Length == 0 ? Config.Empty : ConfigurationFactory.ParseString(hocon.ToString());
    }

    /// <summary>Options without a value and the HOCON line each one is.</summary>
    private static readonly Dictionary<string, string> Flags = new()
    {
        ["ro"] = "fuseactors.mount.read-only = on",
        ["rw"] = "fuseactors.mount.read-only = off",
        ["allow_other"] = "fuseactors.mount.allow-other = on",
        ["noallow_other"] = "fuseactors.mount.allow-other = off",
        ["default_permissions"] = "fuseactors.mount.default-permissions = on",
        ["nodefault_permissions"] = "fuseactors.mount.default-permissions = off",
        ["auto_unmount"] = "fuseactors.mount.auto-unmount = on",
    };

    /// <summary>Whole-number options: their HOCON key and the range the kernel or the engine takes.</summary>
    private static readonly Dictionary<string, (string Key, long Min, long Max, string What)> Numbers = new()
    {
        // The kernel's max_read mount option (an unsigned int; 0 is "no limit", which is what not giving it means).
        ["max_read"] = ("fuseactors.mount.max-read", 1, uint.MaxValue, "a number of bytes"),
        // INIT's max_write: the engine's buffers hold up to 1 MiB, and the kernel wants at least a page.
        ["max_write"] = ("fuseactors.connection.max-write", 4096, 1 << 20, "a number of bytes from 4096 to 1048576"),
        ["max_readahead"] = ("fuseactors.connection.max-readahead", 0, uint.MaxValue, "a number of bytes"),
        // INIT's max_background and congestion_threshold are 16-bit.
        ["max_background"] = ("fuseactors.connection.max-background", 1, ushort.MaxValue, "a number from 1 to 65535"),
        ["congestion_threshold"] = ("fuseactors.connection.congestion-threshold", 1, ushort.MaxValue, "a number from 1 to 65535"),
    };

    private static string? Number(string name, string? value, (string Key, long Min, long Max, string What) number, out string? error)
    {
        error = null;
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= number.Min && n <= number.Max)
            return $"{number.Key} = {n.ToString(CultureInfo.InvariantCulture)}";
        return Fail(value is null ? $"-o {name} needs a value ({name}=N, {number.What})" : $"-o {name}: '{value}' is not {number.What}", out error);
    }

    /// <summary>libfuse's entry_timeout, attr_timeout and negative_timeout: seconds as a double (0.5, 1, 1.5), here
    /// a HOCON duration in milliseconds (finer than that the kernel's jiffies do not tell apart anyway).</summary>
    private static string? Timeout(string name, string? value, out string? error)
    {
        error = null;
        const double max = 365 * 24 * 3600;   // a year: a cache time, not a way to overflow the engine's TimeSpan
        if (value is not null && double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double s)
            && double.IsFinite(s) && s >= 0 && s <= max)
        {
            long ms = (long)Math.Round(s * 1000);
            return $"fuseactors.connection.{name.Replace('_', '-')} = {ms.ToString(CultureInfo.InvariantCulture)}ms";
        }
        return Fail(value is null ? $"-o {name} needs a value ({name}=SECONDS, e.g. 1 or 0.5)"
            : $"-o {name}: '{value}' is not a number of seconds (e.g. 1 or 0.5, at most a year)", out error);
    }

    private static string? Fail(string message, out string? error)
    {
        error = message;
        return null;
    }

    private static bool ValidSize(string value)
    {
        try
        {
            MemoryFsOptions.ParseSize(value);
            return true;
        }
        catch (FormatException) { return false; }
    }

    /// <summary>A positive number with an optional k, m or g suffix (powers of 1024, as tmpfs's nr_inodes).</summary>
    internal static long? ParseCount(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var s = value.ToLowerInvariant();
        long unit = s[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => 1 };
        var digits = unit == 1 ? s : s[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && n <= long.MaxValue / unit
            ? n * unit : null;
    }

    /// <summary>A HOCON quoted string (JSON escapes), so no value can add keys or change the syntax.</summary>
    private static string Quote(string value)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in value)
        {
            if (c is '"' or '\\') sb.Append('\\').Append(c);
            else if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}

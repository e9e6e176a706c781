using System.Globalization;
using System.Text;
using Akka.Configuration;
using FuseActors.Filesystems.MemoryFs;

namespace FuseActors.Cli;

/// <summary>
/// <c>-o OPTIONS</c> as mount(8) and tmpfs take them: comma-separated, <c>-o</c> repeatable. Each option becomes a
/// HOCON key in a Config that goes in front of the loaded one, so <c>-o</c> wins over <c>--config</c> and akka.hocon.
/// </summary>
internal static class MountOptionList
{
    public const string Known = "size=, nr_inodes=, allow_other, noallow_other, default_permissions, nodefault_permissions, subtype=";

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
                    "allow_other" or "noallow_other" or "default_permissions" or "nodefault_permissions" when value is not null =>
                        Fail($"-o {name} takes no value", out error),
                    "allow_other" => "fuseactors.mount.allow-other = on",
                    "noallow_other" => "fuseactors.mount.allow-other = off",
                    "default_permissions" => "fuseactors.mount.default-permissions = on",
                    "nodefault_permissions" => "fuseactors.mount.default-permissions = off",
                    "subtype" => string.IsNullOrEmpty(value) ? Fail("-o subtype needs a name (subtype=NAME)", out error)
                        : $"fuseactors.mount.subtype = {Quote(value)}",
                    _ => Fail($"unknown mount option '{option}' ({Known})", out error),
                };
                if (line is null) return null;
                hocon.Append(line).Append('\n');
            }
        }
        return hocon.Length == 0 ? Config.Empty : ConfigurationFactory.ParseString(hocon.ToString());
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

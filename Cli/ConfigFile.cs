using System.Text;
using Akka.Configuration;

namespace FuseActors.Cli;

/// <summary>A configuration file that cannot be used: missing, unreadable, or not HOCON. The message names the file
/// and, for a syntax error, the line.</summary>
internal sealed class ConfigFileException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Loads a HOCON file for the CLI. Akka's HOCON parser says what it expected but not where, and it takes some broken
/// files without a word (an unclosed brace ends at the end of the file); so the file is first scanned for what is
/// surely wrong (brackets that do not pair, strings that do not end) with the line of each, and a parser error is
/// placed at the first line whose prefix of the file, brackets closed, no longer parses.
/// </summary>
internal static class ConfigFile
{
    public static Config Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConfigFileException($"configuration file {path} does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigFileException($"configuration file {path} cannot be read: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary><paramref name="text"/> as a Config; a <see cref="ConfigFileException"/> naming <paramref name="name"/>
    /// and the line when it is not HOCON.</summary>
    public static Config Parse(string text, string name)
    {
        var lines = Scan(text, out var scanError);
        if (scanError is not null) throw new ConfigFileException($"configuration file {name} does not parse: {scanError}");
        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            int? line = FirstBadLine(text, lines);
            var where = line is { } n ? $"line {n}: " : "";
            throw new ConfigFileException($"configuration file {name} does not parse: {where}{OneLine(e.Message)}", e);
        }
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>What is open at the end of each line: the brackets still to close (innermost last) and whether the line
    /// ends inside a triple-quoted string.</summary>
    private readonly record struct LineEnd(int Offset, string Closers, bool InString);

    /// <summary>Walks the HOCON text the way its tokenizer does (quoted and triple-quoted strings, # and // comments,
    /// ${...} substitutions, { } [ ]), recording each line's end; an error with its line for brackets that do not pair
    /// and strings that do not end.</summary>
    private static List<LineEnd> Scan(string text, out string? error)
    {
        error = null;
        var ends = new List<LineEnd>();
        var open = new Stack<(char Bracket, int Line)>();
        int line = 1, i = 0;
        bool inTriple = false;
        int tripleLine = 0;
        string Closers() => new(open.Select(o => o.Bracket == '{' ? '}' : ']').ToArray());
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '\n')
            {
                ends.Add(new LineEnd(i, Closers(), inTriple));
                line++;
                i++;
                continue;
            }
            if (inTriple)
            {
                if (string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0)
                {
                    inTriple = false;
                    i += 3;
                    while (i < text.Length && text[i] == '"') i++;   // """a"""" is a" plus the closing quotes
                }
                else i++;
                continue;
            }
            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            if (string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0)
            {
                inTriple = true;
                tripleLine = line;
                i += 3;
                continue;
            }
            if (c == '"')
            {
                int start = line;
                i++;
                while (i < text.Length && text[i] != '"' && text[i] != '\n')
                    i += text[i] == '\\' ? 2 : 1;
                if (i >= text.Length || text[i] == '\n')
                {
                    error = $"line {start}: a quoted string does not end on its line";
                    return ends;
                }
                i++;
                continue;
            }
            if (c == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                int close = text.IndexOf('}', i);
                int newline = text.IndexOf('\n', i);
                if (close < 0 || (newline >= 0 && newline < close))
                {
                    error = $"line {line}: a substitution ${{...}} does not end on its line";
                    return ends;
                }
                i = close + 1;
                continue;
            }
            if (c is '{' or '[') open.Push((c, line));
            else if (c is '}' or ']')
            {
                if (open.Count == 0)
                {
                    error = $"line {line}: '{c}' closes nothing";
                    return ends;
                }
                var (bracket, openedAt) = open.Pop();
                if ((bracket == '{') != (c == '}'))
                {
                    error = $"line {line}: '{c}' does not close the '{bracket}' of line {openedAt}";
                    return ends;
                }
            }
            i++;
        }
        if (inTriple) error = $"line {tripleLine}: a triple-quoted string is never closed";
        else if (open.Count > 0)
        {
            var (bracket, openedAt) = open.Peek();
            error = $"line {openedAt}: '{bracket}' is never closed";
        }
        ends.Add(new LineEnd(text.Length, Closers(), inTriple));
        return ends;
    }

    /// <summary>The first line at whose end the text so far, its open brackets closed, does not parse; null when every
    /// such prefix parses (the error needs the whole file).</summary>
    private static int? FirstBadLine(string text, List<LineEnd> ends)
    {
        for (int n = 0; n < ends.Count; n++)
        {
            if (ends[n].InString) continue;
            var prefix = new StringBuilder(text, 0, ends[n].Offset, ends[n].Offset + 8).Append('\n').Append(ends[n].Closers);
            try { ConfigurationFactory.ParseString(prefix.ToString()); }
            catch (Exception e) when (e is not OutOfMemoryException) { return n + 1; }
        }
        return null;
    }
}

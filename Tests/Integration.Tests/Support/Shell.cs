using System.Diagnostics;
using System.Text;

namespace FuseActors.Integration.Tests.Support;

/// <summary>Runs real programs against a mount: bash -c with a timeout, capturing output.</summary>
public static class Shell
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
    }

    public static async Task<Result> RunAsync(string script, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("/bin/bash", ["-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "/",
        };
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["GIT_AUTHOR_NAME"] = psi.Environment["GIT_COMMITTER_NAME"] = "FuseActors Test";
        psi.Environment["GIT_AUTHOR_EMAIL"] = psi.Environment["GIT_COMMITTER_EMAIL"] = "test@fuseactors.invalid";
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{script}' did not finish within {timeout ?? TimeSpan.FromMinutes(2)}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs and asserts exit code 0, returning stdout.</summary>
    public static async Task<string> OkAsync(string script, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var r = await RunAsync(script, workingDirectory, timeout);
        Assert.True(r.ExitCode == 0, $"'{script}' failed: {r}");
        return r.Stdout;
    }
}

using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests;

/// <summary>
/// PassthroughFs holds a host descriptor for every node the kernel knows, so a daemon whose RLIMIT_NOFILE is too small
/// for the tree in use runs out of them; and a .NET process that reaches its limit dies the next time the runtime starts
/// a thread (it aborts when the thread's pipe cannot be made). So: the filesystem stops short of the limit
/// (DescriptorBudget), the caller's create fails with EMFILE, no file is left on the host for a create that failed, the
/// log says what is wrong and what to do (not once per request), the daemon neither dies under load nor on SIGTERM, and
/// once the kernel forgets nodes, creates work again. The daemon is the real CLI with its limit lowered by `ulimit -n`,
/// on a real mount.
/// </summary>
public sealed class PassthroughDescriptorLimitTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");

    [Fact]
    public async Task Creates_and_lookups_past_the_descriptor_limit_fail_with_EMFILE_leave_no_file_behind_and_are_logged_once()
    {
        MountedFilesystem.RequireFuse();
        var root = Directory.CreateTempSubdirectory("fuseactors-emfile-").FullName;
        string src = Path.Combine(root, "src"), mnt = Path.Combine(root, "mnt"), log = Path.Combine(root, "daemon.log");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(mnt);
        try
        {
            // 400 creates against a limit of 256 descriptors (the runtime holds ~100 of them, and ~80 more are kept in
            // reserve): the later ones fail. Before the budget the daemon took the last descriptor and then aborted
            // ("PAL_SEHException") when the thread pool started a thread, mid-run under load or on SIGTERM.
            var output = await Shell.OkAsync($$"""
                ( ulimit -n 256; exec dotnet {{Cli}} mount passthrough {{src}} {{mnt}} ) > {{log}} 2>&1 &
                pid=$!
                for i in $(seq 1 300); do grep -q "mounted at" {{log}} && break; sleep 0.1; done
                grep -q "mounted at" {{log}} || { cat {{log}} >&2; exit 1; }
                mkdir {{mnt}}/host   # known to the kernel from the start (made on the host's side later)
                ok=0; failed=0
                for i in $(seq 1 400); do
                  if { : > {{mnt}}/f$i; } 2>>{{root}}/errors; then ok=$((ok+1)); else failed=$((failed+1)); fi
                done
                echo "ok=$ok failed=$failed host=$(ls {{src}} | grep -c '^f') emfile=$(grep -c 'Too many open files' {{root}}/errors)"
                sed 's/.*: //' {{root}}/errors | sort | uniq -c
                # Unlinked, the first 50 files' nodes are forgotten by the kernel, and their descriptors closed.
                for i in $(seq 1 50); do rm -f {{mnt}}/f$i; done
                again=no
                for i in $(seq 1 50); do echo again > {{mnt}}/again 2>/dev/null && again=$(cat {{mnt}}/again) && break; sleep 0.1; done
                echo "after forgetting: $again"
                # Back at the budget. 200 names made on the host, which the kernel has never seen: a listing gives them all
                # (READDIRPLUS without entry data past the budget), and their stats fail with EMFILE, not the daemon.
                for i in $(seq 401 500); do : > {{mnt}}/g$i 2>/dev/null; done
                for i in $(seq 1 200); do : > {{src}}/host/h$i; done
                for i in $(seq 51 60); do rm -f {{mnt}}/f$i; done   # room for the listing's own descriptors
                echo "listed: $(ls {{mnt}}/host | wc -l)"
                ls -l {{mnt}}/host > /dev/null 2>&1; echo "stat of each: $?"
                # Then stopped there: the shutdown starts threads (it used to abort here).
                kill -TERM $pid; wait $pid || { echo "fuseactors exited $?" >&2; cat {{log}} | tail -5 >&2; exit 1; }
                """, timeout: TimeSpan.FromSeconds(120));
            var daemonLog = File.ReadAllText(log);
            var counts = output.Split('\n')[0];
            var fields = counts.Split(' ').Select(f => f.Split('=')).ToDictionary(kv => kv[0], kv => int.Parse(kv[1]));
            string context = output + "\n--- daemon log (end) ---\n" + string.Join('\n', daemonLog.Split('\n').TakeLast(30));
            Assert.True(fields["ok"] > 0 && fields["failed"] > 0, context);
            Assert.True(fields["failed"] == fields["emfile"], context);
            // Every file on the host is one whose create succeeded: none of the failed ones was left behind.
            Assert.True(fields["ok"] == fields["host"], context);
            Assert.True(output.Contains("after forgetting: again"), context);
            Assert.True(output.Contains("listed: 200"), context);

            Assert.DoesNotContain("which was left there", daemonLog);
            Assert.DoesNotContain("PAL_SEHException", daemonLog);
            // The engine's warning: said, and not once per failed request.
            int warnings = daemonLog.Split('\n').Count(l => l.Contains("the daemon is out of file descriptors"));
            Assert.InRange(warnings, 1, Math.Max(1, fields["failed"] / 10));
            Assert.Contains("RLIMIT_NOFILE", daemonLog);
        }
        finally
        {
            FuseActors.Engine.Device.FuseMounter.Unmount(mnt);
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>
/// Mounting and unmounting through the setuid <c>fusermount3</c> helper (package fuse3), as libfuse and go-fuse do
/// for a process that may not call mount(2) itself: the <c>_FUSE_COMMFD</c> protocol. We make a socketpair, start
/// <c>fusermount3 -o OPTIONS -- MOUNTPOINT</c> with one end as its descriptor <c>_FUSE_COMMFD</c>; it opens
/// /dev/fuse, mounts, and sends the open descriptor back over the socket (SCM_RIGHTS). With <c>auto_unmount</c> it
/// does not exit: it waits until our end of the socket closes (the daemon exited or was killed) and then lazily
/// unmounts, so even a <c>kill -9</c> leaves no dead mount.
/// <para>
/// The child end must reach fusermount3 and no other program: every descriptor here is opened close-on-exec, and
/// fusermount3 is started with posix_spawn, whose file actions dup2 the child end to a fresh number in the child
/// only (dup2 clears close-on-exec on the copy). Nothing in our process is ever made inheritable, so a Process.Start
/// on another thread at the same moment cannot inherit the socket (which would keep an auto_unmount helper from ever
/// seeing the daemon go). The environment is passed to posix_spawn, not set with setenv (not thread-safe).
/// </para>
/// </summary>
public static unsafe class Fusermount
{
    public const string Program = "fusermount3";
    private const string CommFdEnv = "_FUSE_COMMFD";
    private const string CommFd2Env = "_FUSE_COMMFD2";

    /// <summary>The full path of fusermount3 (PATH, then /usr/bin and /bin), or null when it is not installed.</summary>
    public static string? Find()
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/bin", "/usr/local/bin"]);
        foreach (var dir in dirs)
        {
            var p = Path.Combine(dir, Program);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>True when /etc/fuse.conf has a <c>user_allow_other</c> line: only then may a user other than root
    /// mount with allow_other through fusermount3.</summary>
    public static bool UserAllowOther(string path = "/etc/fuse.conf")
    {
        try
        {
            return File.ReadLines(path).Any(l => l.Split('#')[0].Trim() == "user_allow_other");
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>A mount made by fusermount3: the /dev/fuse descriptor it sent, and for auto_unmount the helper that
    /// stays behind (its pid and our end of the socket it watches).</summary>
    public sealed record Result(LinuxFuseDevice Device, int HelperPid, int AutoUnmountSocket);

    /// <summary>Runs <c>fusermount3 -o <paramref name="options"/> -- <paramref name="mountpoint"/></c> and receives the
    /// /dev/fuse descriptor. Throws <see cref="FuseDeviceException"/> with fusermount3's own error when it fails.</summary>
    public static Result Mount(string program, string mountpoint, string options, bool autoUnmount)
    {
        int* sv = stackalloc int[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            throw new FuseDeviceException((Errno)errno, "socketpair for fusermount3");
        int ours = sv[0], theirs = sv[1];
        int* errPipe = stackalloc int[2];
        if (pipe2(errPipe, O_CLOEXEC) < 0)
        {
            var e = (Errno)errno;
            close(ours); close(theirs);
            throw new FuseDeviceException(e, "pipe for fusermount3");
        }
        // In the child only (stderr first, so neither dup2 clobbers the other's source): the socket end at a number
        // that is none of stdin/out/err and not its current number (dup2 onto itself would leave close-on-exec set).
        int childFd = theirs == 3 ? 4 : 3;
        int pid;
        try
        {
            pid = Spawn(program, ["fusermount3", "-o", options, "--", mountpoint],
                [$"{CommFdEnv}={childFd}", $"{CommFd2Env}={ours}"],
                [(errPipe[1], 2), (theirs, childFd)]);
        }
        catch
        {
            close(ours); close(theirs); close(errPipe[0]); close(errPipe[1]);
            throw;
        }
        close(theirs);
        close(errPipe[1]);

        int fd = ReceiveFd(ours, TimeSpan.FromSeconds(30), out var recvError);
        if (fd >= 0 && autoUnmount)
        {
            // The helper lives on until `ours` closes; it is quiet from now on (and blocks SIGPIPE), so its stderr
            // is no longer needed.
            close(errPipe[0]);
            return new Result(LinuxFuseDevice.FromFd(fd), pid, ours);
        }
        close(ours);
        if (fd < 0 && recvError is not null) kill(pid, SIGKILL);
        string stderr = ReadAll(errPipe[0]);
        int status = WaitExit(pid, TimeSpan.FromSeconds(10));
        // fusermount3 sends the descriptor only once the mount is made: an exit we could not see (a wait that timed
        // out under load, or ECHILD where SIGCHLD is ignored) is no reason to throw a live mount away.
        if (fd >= 0 && status is 0 or -1) return new Result(LinuxFuseDevice.FromFd(fd), 0, -1);
        if (fd >= 0)
        {
            // It sent the descriptor, then failed: a mount may be there. Closing the descriptor alone would leave it
            // dead, so take it away too.
            close(fd);
            Unmount(program, mountpoint, lazy: true, out _);
        }
        var said = stderr.Trim();
        var why = said.Length > 0 ? said : recvError ?? $"exit status {status}";
        throw FuseDeviceException.WithMessage(ErrnoOf(said), $"fusermount3 could not mount {mountpoint}: {why.Replace('\n', ' ')}");
    }

    /// <summary>Runs <c>fusermount3 -u [-z] -- MOUNTPOINT</c>: how an unprivileged daemon unmounts (it may not call
    /// umount2). Ok, EBUSY when in use, EINVAL when it is not mounted, else EPERM/EIO.</summary>
    public static Errno Unmount(string program, string mountpoint, bool lazy, out string stderr)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-u");
        if (lazy) psi.ArgumentList.Add("-z");
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(mountpoint);
        psi.Environment.Remove(CommFdEnv);
        psi.Environment.Remove(CommFd2Env);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            stderr = "fusermount3 -u did not finish within 30 s";
            return Errno.EIO;
        }
        stderr = err.GetAwaiter().GetResult().Trim();
        if (p.ExitCode == 0) return Errno.Ok;
        if (stderr.Contains("busy", StringComparison.OrdinalIgnoreCase)) return Errno.EBUSY;
        if (stderr.Contains("not found", StringComparison.OrdinalIgnoreCase) || stderr.Contains("not mounted", StringComparison.OrdinalIgnoreCase)
            || stderr.Contains("Invalid argument", StringComparison.OrdinalIgnoreCase))
            return Errno.EINVAL;
        return ErrnoOf(stderr);
    }

    /// <summary>Closes our end of an auto_unmount helper's socket (it then unmounts lazily if the mount is still there,
    /// and exits) and reaps the helper, waiting up to <paramref name="wait"/>.</summary>
    public static void ReleaseHelper(int pid, int socket, TimeSpan wait)
    {
        if (socket >= 0) close(socket);
        if (pid > 0) WaitExit(pid, wait);
    }

    private static Errno ErrnoOf(string stderr) =>
        stderr.Contains("Permission denied", StringComparison.OrdinalIgnoreCase) || stderr.Contains("not owned", StringComparison.OrdinalIgnoreCase)
            ? Errno.EACCES
        : stderr.Contains("Operation not permitted", StringComparison.OrdinalIgnoreCase) || stderr.Contains("only allowed", StringComparison.OrdinalIgnoreCase)
            ? Errno.EPERM
        : stderr.Contains("No such file", StringComparison.OrdinalIgnoreCase) ? Errno.ENOENT
        : stderr.Contains("busy", StringComparison.OrdinalIgnoreCase) ? Errno.EBUSY
        : Errno.EIO;

    /// <summary>recvmsg of one SCM_RIGHTS descriptor (close-on-exec), waiting up to <paramref name="timeout"/>.
    /// -1 when the helper closed the socket without sending one (it failed: its stderr says why).</summary>
    private static int ReceiveFd(int socket, TimeSpan timeout, out string? error)
    {
        error = null;
        var pfd = new pollfd { fd = socket, events = POLLIN };
        int ready;
        while ((ready = poll(&pfd, 1, (int)timeout.TotalMilliseconds)) < 0 && errno == EINTR) { }
        if (ready == 0) { error = $"no answer from fusermount3 within {timeout.TotalSeconds} s"; return -1; }
        if (ready < 0) { error = $"poll: {(Errno)errno}"; return -1; }

        byte data;
        var iov = new iovec { iov_base = &data, iov_len = 1 };
        const int controlSize = 64; // >= CMSG_SPACE(sizeof(int))
        byte* control = stackalloc byte[controlSize];
        new Span<byte>(control, controlSize).Clear();
        var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = controlSize };
        ssize_t n;
        while ((n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) { }
        if (n < 0) { error = $"recvmsg: {(Errno)errno}"; return -1; }
        if (n == 0) return -1;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != null; c = CMSG_NXTHDR(&msg, c))
        {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                return *(int*)CMSG_DATA(c);
        }
        error = "fusermount3 answered without a descriptor";
        return -1;
    }

    private static string ReadAll(int fd)
    {
        var bytes = new List<byte>();
        byte* buf = stackalloc byte[1024];
        while (true)
        {
            ssize_t n = read(fd, buf, 1024);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (int i = 0; i < (int)n; i++) bytes.Add(buf[i]);
        }
        close(fd);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Reaps <paramref name="pid"/>: its exit status (128+signal when killed), or -1 if it did not end in time.</summary>
    private static int WaitExit(int pid, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            int status;
            int r = WaitPid(pid, &status, WNOHANG);
            if (r == pid)
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
            if (r < 0 && Marshal.GetLastPInvokeError() != EINTR) return -1;
            if (Stopwatch.GetTimestamp() > deadline) return -1;
            Thread.Sleep(10);
        }
    }

    /// <summary>posix_spawn of <paramref name="path"/> with our environment plus <paramref name="extraEnv"/>, stdin and
    /// stdout on /dev/null, each (from, to) pair dup2'ed in the child, and an empty signal mask. Returns the pid.</summary>
    private static int Spawn(string path, string[] argv, string[] extraEnv, (int From, int To)[] dups)
    {
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => (string)e.Key is not (CommFdEnv or CommFd2Env))
            .Select(e => $"{e.Key}={e.Value}")
            .Concat(extraEnv)
            .ToArray();
        var handles = new List<GCHandle>();
        byte* Pin(string s)
        {
            var h = GCHandle.Alloc(Encoding.UTF8.GetBytes(s + "\0"), GCHandleType.Pinned);
            handles.Add(h);
            return (byte*)h.AddrOfPinnedObject();
        }
        // posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336 bytes in glibc (x86-64, arm64): room to spare.
        byte* actions = stackalloc byte[512];
        byte* attr = stackalloc byte[1024];
        byte* sigset = stackalloc byte[256];
        byte** args = stackalloc byte*[argv.Length + 1];
        byte** envp = (byte**)NativeMemory.Alloc((nuint)(env.Length + 1), (nuint)sizeof(byte*));
        try
        {
            for (int i = 0; i < argv.Length; i++) args[i] = Pin(argv[i]);
            args[argv.Length] = null;
            for (int i = 0; i < env.Length; i++) envp[i] = Pin(env[i]);
            envp[env.Length] = null;

            Check(posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
            Check(posix_spawnattr_init(attr), "posix_spawnattr_init");
            try
            {
                byte* devnull = Pin("/dev/null");
                Check(posix_spawn_file_actions_addopen(actions, 0, devnull, O_RDONLY, 0), "addopen stdin");
                Check(posix_spawn_file_actions_addopen(actions, 1, devnull, O_WRONLY, 0), "addopen stdout");
                foreach (var (from, to) in dups)
                    Check(posix_spawn_file_actions_adddup2(actions, from, to), "adddup2");
                sigemptyset(sigset);
                Check(posix_spawnattr_setsigmask(attr, sigset), "posix_spawnattr_setsigmask");
                Check(posix_spawnattr_setflags(attr, PosixSpawnSetSigMask), "posix_spawnattr_setflags");
                int pid;
                int err = posix_spawn(&pid, Pin(path), actions, attr, args, envp);
                if (err != 0) throw new FuseDeviceException((Errno)err, $"cannot start {path}");
                return pid;
            }
            finally
            {
                posix_spawn_file_actions_destroy(actions);
                posix_spawnattr_destroy(attr);
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
            NativeMemory.Free(envp);
        }
    }

    private static void Check(int err, string what)
    {
        if (err != 0) throw new FuseDeviceException((Errno)err, what);
    }

    private const short PosixSpawnSetSigMask = 0x08;

    // Tmds.LibC 0.5 has no posix_spawn, waitpid or kill.
    [DllImport("libc")] private static extern int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);
    [DllImport("libc")] private static extern int posix_spawn_file_actions_init(void* actions);
    [DllImport("libc")] private static extern int posix_spawn_file_actions_destroy(void* actions);
    [DllImport("libc")] private static extern int posix_spawn_file_actions_adddup2(void* actions, int fd, int newfd);
    [DllImport("libc")] private static extern int posix_spawn_file_actions_addopen(void* actions, int fd, byte* path, int oflag, uint mode);
    [DllImport("libc")] private static extern int posix_spawnattr_init(void* attr);
    [DllImport("libc")] private static extern int posix_spawnattr_destroy(void* attr);
    [DllImport("libc")] private static extern int posix_spawnattr_setflags(void* attr, short flags);
    [DllImport("libc")] private static extern int posix_spawnattr_setsigmask(void* attr, void* sigset);
    [DllImport("libc")] private static extern int sigemptyset(void* sigset);
    [DllImport("libc", EntryPoint = "waitpid", SetLastError = true)] private static extern int WaitPid(int pid, int* status, int options);
    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int sig);
    private const int WNOHANG = 1;
}

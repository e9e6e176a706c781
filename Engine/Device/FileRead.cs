using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>Reading a READ reply's bytes from a file descriptor (<see cref="IFileReplyDevice"/> and its fallback).</summary>
public static unsafe class FileRead
{
    /// <summary>pread(2) from <paramref name="offset"/> until <paramref name="into"/> is full or the file ends (EINTR
    /// retried). Returns the bytes read, or a negated errno.</summary>
    public static int Fully(int fd, Span<byte> into, long offset)
    {
        int done = 0;
        fixed (byte* p = into)
        {
            while (done < into.Length)
            {
                long got = pread(fd, p + done, into.Length - done, offset + done);
                if (got > 0) { done += (int)got; continue; }
                if (got == 0) break;
                int err = errno;
                if (err == EINTR) continue;
                return -err;
            }
        }
        return done;
    }
}

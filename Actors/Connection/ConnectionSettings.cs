using Akka.Configuration;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>The tunables of one FUSE connection; defaults and comments live in the embedded reference.conf
/// (<see cref="FuseActorsConfig.Default"/>, fuseactors.connection), repeated in akka.hocon.</summary>
public sealed record ConnectionSettings
{
    public int MaxInFlight { get; init; } = 64;
    public uint MaxWrite { get; init; } = 1 << 20;
    public uint MaxReadahead { get; init; } = 1 << 20;
    public ushort MaxBackground { get; init; } = 64;
    public ushort CongestionThreshold { get; init; } = 48;
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan AttrTimeout { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan NegativeTimeout { get; init; } = TimeSpan.Zero;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan InterruptGrace { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>How often the request deadlines (interrupt grace, request timeout) are checked: their precision.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>The clock of every deadline and timestamp (a fake one lets deadline tests run without sleeping).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
    /// <summary>Device queues (FUSE_DEV_IOC_CLONE), each with its own reader thread; 0 (the default) = auto:
    /// <see cref="DefaultQueues"/>, where a queue that cannot be opened (a /dev/fuse the daemon's user may not open, a
    /// policy refusing the clone) is left out with a warning instead of failing the mount.</summary>
    public int Queues { get; init; }

    /// <summary>One queue per CPU the daemon may run on, at most 8 (<c>queues = auto</c>). The kernel wakes whichever
    /// reader waits longest; with one reader per CPU, one that last ran on the caller's CPU is often among them, and a
    /// wake-up on the caller's own CPU costs a few µs where one across vCPUs costs ~40 (bench/RESULTS.md).</summary>
    public static int DefaultQueues => Math.Clamp(Environment.ProcessorCount, 1, 8);
    public bool ReadDirPlus { get; init; } = true;
    public bool WritebackCache { get; init; }
    /// <summary>Ask for FUSE_PASSTHROUGH (kernel passthrough of opened files' I/O to backing files) when the kernel offers it.</summary>
    public bool Passthrough { get; init; }
    public bool Debug { get; init; }
    /// <summary>The <c>mount</c> tag of the connection's metrics: FuseMount sets the mountpoint; null = the connection actor's name.</summary>
    public string? MountName { get; init; }
    /// <summary>A real mount serves its control socket (<c>/run/fuseactors/CONNECTION-ID.sock</c>: stats and debug toggling).</summary>
    public bool ControlSocket { get; init; } = true;
    /// <summary>Run the connection and the filesystem actor on the reader threads (<see cref="InlineDispatcher"/>) instead of the default dispatcher.</summary>
    public bool InlineDispatch { get; init; } = true;
    /// <summary>How long a reader polls the device before sleeping in the kernel (see LinuxFuseDevice.SpinBeforeBlocking).</summary>
    public TimeSpan SpinBeforeBlocking { get; init; } = TimeSpan.Zero;
    /// <summary>What carries a mounted connection's requests: /dev/fuse, FUSE over io_uring, or io_uring when the kernel offers it.</summary>
    public FuseTransport Transport { get; init; } = FuseTransport.Device;
    /// <summary>Ring entries (request buffers) per io_uring queue.</summary>
    public int IoUringQueueDepth { get; init; } = 8;
    /// <summary>Pin each io_uring queue's thread to its CPU (the kernel picks the queue by the caller's CPU).</summary>
    public bool IoUringPinQueues { get; init; } = true;
    /// <summary>Run each io_uring queue's thread under SCHED_IDLE, so that the caller a reply wakes stays on its CPU (see
    /// IoUringFuseQueue.AtIdlePriority and reference.conf for the trade).</summary>
    public bool IoUringIdlePriority { get; init; }
    /// <summary>Set by the mount when io_uring queues are in place: INIT then asks for FUSE_OVER_IO_URING.</summary>
    internal bool OfferIoUring { get; init; }

    /// <summary>Read buffer per reader: the largest WRITE plus room for its headers (libfuse's 4 KiB), never below 8 KiB
    /// and enough for a 64 KiB xattr value.</summary>
    public int ReadBufferSize => (int)Math.Max(Math.Max(8192, MaxWrite + 4096), 64 * 1024 + 4096);

    /// <summary>What INIT asks the kernel for, given what the filesystem declared: O_TRUNC in OPEN (FUSE_ATOMIC_O_TRUNC),
    /// POSIX locks (FUSE_POSIX_LOCKS), flock (FUSE_FLOCK_LOCKS).</summary>
    internal InitPolicy ToInitPolicy(Filesystem.FilesystemCapabilities capabilities) => new()
    {
        ReadDirPlus = ReadDirPlus,
        WritebackCache = WritebackCache,
        Passthrough = Passthrough,
        OverIoUring = OfferIoUring,
        HandlesOpenTruncate = (capabilities & Filesystem.FilesystemCapabilities.HandlesOpenTruncate) != 0,
        PosixLocks = (capabilities & Filesystem.FilesystemCapabilities.PosixLocks) != 0,
        FlockLocks = (capabilities & Filesystem.FilesystemCapabilities.FlockLocks) != 0,
        DirectIoAllowMmap = (capabilities & Filesystem.FilesystemCapabilities.DirectIoMmap) != 0,
        MaxWrite = MaxWrite,
        MaxReadahead = MaxReadahead,
        MaxBackground = MaxBackground,
        CongestionThreshold = CongestionThreshold,
    };

    /// <summary>"device", "io-uring" or "auto" (<c>fuseactors.connection.transport</c>).</summary>
    public static FuseTransport ParseTransport(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "device" or "dev-fuse" => FuseTransport.Device,
        "io-uring" or "io_uring" or "iouring" or "uring" => FuseTransport.IoUring,
        "auto" => FuseTransport.Auto,
        _ => throw new ArgumentException($"fuseactors.connection.transport = {value}: expected device, io-uring or auto"),
    };

    /// <summary>Reads <c>fuseactors.connection</c> from a config; missing keys take the embedded defaults (<see cref="FuseActorsConfig.Default"/>).</summary>
    public static ConnectionSettings FromConfig(Config root)
    {
        var d = new ConnectionSettings();
        var c = FuseActorsConfig.WithDefaults(root).GetConfig("fuseactors.connection");
        if (c is null || c.IsEmpty) return d;
        return new ConnectionSettings
        {
            MaxInFlight = ParseMaxInFlight(c.GetInt("max-in-flight", d.MaxInFlight)),
            MaxWrite = (uint)Math.Clamp(c.GetLong("max-write", d.MaxWrite), 4096, 1 << 20),
            MaxReadahead = (uint)c.GetLong("max-readahead", d.MaxReadahead),
            MaxBackground = (ushort)c.GetInt("max-background", d.MaxBackground),
            CongestionThreshold = (ushort)c.GetInt("congestion-threshold", d.CongestionThreshold),
            EntryTimeout = c.GetTimeSpan("entry-timeout", d.EntryTimeout, allowInfinite: false),
            AttrTimeout = c.GetTimeSpan("attr-timeout", d.AttrTimeout, allowInfinite: false),
            NegativeTimeout = c.GetTimeSpan("negative-timeout", d.NegativeTimeout, allowInfinite: false),
            RequestTimeout = c.GetTimeSpan("request-timeout", d.RequestTimeout, allowInfinite: false),
            InterruptGrace = c.GetTimeSpan("interrupt-grace", d.InterruptGrace, allowInfinite: false),
            SweepInterval = c.GetTimeSpan("sweep-interval", d.SweepInterval, allowInfinite: false),
            Queues = ParseQueues(c.GetString("queues", "auto")),
            ReadDirPlus = c.GetBoolean("readdirplus", d.ReadDirPlus),
            WritebackCache = c.GetBoolean("writeback-cache", d.WritebackCache),
            Passthrough = c.GetBoolean("passthrough", d.Passthrough),
            Debug = c.GetBoolean("debug", d.Debug),
            ControlSocket = c.GetBoolean("control-socket", d.ControlSocket),
            SpinBeforeBlocking = TimeSpan.FromMicroseconds(c.GetInt("spin-before-blocking-us", (int)d.SpinBeforeBlocking.TotalMicroseconds)),
            InlineDispatch = c.GetString("dispatch", "inline") != "default",
            Transport = ParseTransport(c.GetString("transport", "device")),
            IoUringQueueDepth = Math.Clamp(c.GetInt("io-uring-queue-depth", d.IoUringQueueDepth), 1, 256),
            IoUringPinQueues = c.GetBoolean("io-uring-pin-queues", d.IoUringPinQueues),
            IoUringIdlePriority = c.GetBoolean("io-uring-idle-priority", d.IoUringIdlePriority),
        };
    }

    /// <summary>fuseactors.connection.max-in-flight: 1 to 65536 (0 would leave no read credit: the connection could never
    /// read INIT, and the mount would hang).</summary>
    internal static int ParseMaxInFlight(int value) => value is >= 1 and <= 65536
        ? value
        : throw new FormatException($"fuseactors.connection.max-in-flight: {value} is not a count from 1 to 65536");

    /// <summary>fuseactors.connection.queues: "auto" (0, see <see cref="Queues"/>) or a count from 1 to 64.</summary>
    internal static int ParseQueues(string value)
    {
        if (value.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)) return 0;
        if (int.TryParse(value.Trim(), out int n) && n is >= 1 and <= 64) return n;
        throw new FormatException($"fuseactors.connection.queues: \"{value}\" is not auto or a count from 1 to 64");
    }
}


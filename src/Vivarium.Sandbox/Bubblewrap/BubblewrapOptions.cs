using System.ComponentModel.DataAnnotations;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// Settings of the bubblewrap backend (configuration section <c>Vivarium:Sandbox</c>).
/// The defaults are conservative: every limit is on.
/// </summary>
public sealed class BubblewrapOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string SectionName = "Vivarium:Sandbox";

    /// <summary>The bubblewrap recipe: each sandbox is a fresh <c>bwrap</c> and Python.</summary>
    public const string BubblewrapMode = "bubblewrap";

    /// <summary>A zygote imports the runner's modules once and forks each sandbox, which builds the same namespaces itself.</summary>
    public const string ForkServerMode = "fork-server";

    /// <summary>
    /// How sandboxes are started: <c>bubblewrap</c> (a fresh bwrap and interpreter each) or
    /// <c>fork-server</c> (forked from a zygote that imported everything once; same namespaces,
    /// cgroups and seccomp filter, a fraction of the memory and start-up time).
    /// </summary>
    [Required]
    [RegularExpression("^(bubblewrap|fork-server)$", ErrorMessage = "Vivarium:Sandbox:Mode must be 'bubblewrap' or 'fork-server'")]
    public string Mode { get; set; } = ForkServerMode;

    /// <summary>The bubblewrap binary.</summary>
    [Required]
    public string BwrapPath { get; set; } = "/usr/bin/bwrap";

    /// <summary>
    /// The Python that runs inside sandboxes: Debian's, whose packages come from apt, never a
    /// pyenv or virtualenv Python that may be first on the server's PATH.
    /// </summary>
    [Required]
    public string PythonPath { get; set; } = "/usr/bin/python3";

    /// <summary>
    /// Puts each sandbox in a session of its own, so a Ctrl+C in the server's terminal (sent to
    /// its whole process group) interrupts the server, not every sandbox at once.
    /// </summary>
    [Required]
    public string SetsidPath { get; set; } = "/usr/bin/setsid";

    /// <summary>Drops bubblewrap to an unprivileged host uid before it starts (needs setpriv).</summary>
    [Required]
    public string SetprivPath { get; set; } = "/usr/bin/setpriv";

    /// <summary>
    /// Where workspaces and runtime files live. Empty means <c>/var/lib/vivarium</c> for root,
    /// else <c>$XDG_STATE_HOME/vivarium</c>. One server per directory (a lock file enforces it).
    /// </summary>
    public string StateDirectory { get; set; } = "";

    /// <summary>
    /// First host uid given to workspaces. Each live workspace runs as its own unprivileged
    /// host uid, so even outside its namespaces one sandbox cannot touch another's files. Each
    /// state directory adds its own offset (a multiple of 100,000 below 100,000,000), so two
    /// servers on one host use disjoint ranges.
    /// </summary>
    [Range(1000, int.MaxValue - 100_100_000)]
    public int HostUidBase { get; set; } = 200_000;

    /// <summary>Default memory limit per sandbox (cgroup).</summary>
    [Range(64L * 1024 * 1024, long.MaxValue)]
    public long MemoryLimitBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Default cap on processes and threads per sandbox (cgroup pids): stops fork bombs.</summary>
    [Range(16, 100_000)]
    public int MaxProcesses { get; set; } = 256;

    /// <summary>Default CPU share per sandbox in cores (cgroup CFS quota).</summary>
    [Range(0.05, 1024)]
    public double CpuCores { get; set; } = 1.0;

    /// <summary>Largest file a sandbox may write (RLIMIT_FSIZE).</summary>
    [Range(1024, long.MaxValue)]
    public long MaxFileSizeBytes { get; set; } = 1L * 1024 * 1024 * 1024;

    /// <summary>Open file descriptors per process (RLIMIT_NOFILE).</summary>
    [Range(64, 1_048_576)]
    public int MaxOpenFiles { get; set; } = 1024;

    /// <summary>
    /// Disk quota of each workspace: its own loop-mounted ext4 filesystem of this size (sparse on
    /// the host). 0 turns quotas off and makes workspaces plain directories on the host's disk.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long WorkspaceQuotaBytes { get; set; } = 1L * 1024 * 1024 * 1024;

    /// <summary>Files and directories a workspace may hold (inodes of its filesystem).</summary>
    [Range(1024, 100_000_000)]
    public int WorkspaceInodes { get; set; } = 65_536;

    /// <summary>Size of each sandbox's private /tmp (a tmpfs; counted against the sandbox's memory).</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long TmpSizeBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Modules imported before a sandbox counts as ready, so the user's first import is instant.</summary>
    public List<string> Preload { get; set; } = ["numpy", "pandas", "matplotlib.pyplot"];

    /// <summary>Distributions whose versions the runner reports (what <c>doctor</c> and the API list as installed).</summary>
    public List<string> ReportedPackages { get; set; } =
    [
        "numpy", "pandas", "matplotlib", "scipy", "seaborn", "sympy", "scikit-learn", "statsmodels",
        "openpyxl", "xlrd", "Pillow", "tabulate", "beautifulsoup4", "lxml", "networkx", "ipython",
    ];

    /// <summary>How long a sandbox may take to start and import its preload list.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Largest frame accepted from a runner. A bigger one is a protocol violation.</summary>
    [Range(64 * 1024, 512 * 1024 * 1024)]
    public int MaxFrameBytes { get; set; } = 48 * 1024 * 1024;

    /// <summary>Largest single rich output (a chart, an HTML table); the runner replaces bigger ones with a note.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxDisplayBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Bytes of stdout (and, separately, stderr) a sandbox forwards per execution; past that it
    /// keeps only the last 8 KiB and says how much it dropped. Bounds what a flood costs the channel.
    /// </summary>
    [Range(64 * 1024, 1024L * 1024 * 1024)]
    public int MaxStreamBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Largest file moved through the files API in one piece.</summary>
    [Range(1024, 1024L * 1024 * 1024)]
    public int MaxTransferFileBytes { get; set; } = 100 * 1024 * 1024;
}

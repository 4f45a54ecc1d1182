using System.Diagnostics;
using System.Reflection;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// Files every sandbox uses: the runner, a generated passwd and group naming the sandbox user,
/// matplotlib's font cache (built once here because building it in each sandbox costs
/// 90–170 ms), and the compiled seccomp filter.
/// </summary>
internal sealed class RuntimeFiles
{
    public const string RunnerResourceName = "vivarium_runner.py";
    public const string ZygoteResourceName = "vivarium_zygote.py";

    // Internal, not private: the argv golden test names runtime files without preparing them.
    internal RuntimeFiles(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }
    public string RunnerPath => Path.Combine(Directory, RunnerResourceName);
    public string ZygotePath => Path.Combine(Directory, ZygoteResourceName);
    public string PasswdPath => Path.Combine(Directory, "passwd");
    public string GroupPath => Path.Combine(Directory, "group");
    public string MatplotlibCacheDirectory => Path.Combine(Directory, "matplotlib");
    public string SeccompFilterPath => Path.Combine(Directory, "seccomp.bpf");

    /// <summary>The runner's source as shipped in this assembly.</summary>
    public static string ReadRunnerSource() => ReadResource(RunnerResourceName);

    private static string ReadResource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is missing from the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static async Task<RuntimeFiles> PrepareAsync(string directory, string pythonPath, CancellationToken cancellationToken)
    {
        var files = new RuntimeFiles(directory);
        System.IO.Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, ReadableDirectory);
        await WriteReadableAsync(files.RunnerPath, ReadRunnerSource(), cancellationToken);
        await WriteReadableAsync(files.ZygotePath, ReadResource(ZygoteResourceName), cancellationToken);
        await WriteReadableAsync(files.PasswdPath,
            "root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:1000:1000:Sandbox user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            cancellationToken);
        await WriteReadableAsync(files.GroupPath, "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n", cancellationToken);
        await BuildFontCacheAsync(files.MatplotlibCacheDirectory, pythonPath, cancellationToken);
        // Compiled each start, so the filter always matches the policy in this build.
        Seccomp.SeccompCompiler.WriteFilter(Seccomp.SeccompPolicy.Rules, files.SeccompFilterPath);
        return files;
    }

    private const UnixFileMode ReadableDirectory =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private static async Task WriteReadableAsync(string path, string content, CancellationToken cancellationToken)
    {
        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, content, cancellationToken);
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(temp, path, overwrite: true);
    }

    private static async Task BuildFontCacheAsync(string directory, string pythonPath, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, ReadableDirectory);
        if (System.IO.Directory.EnumerateFiles(directory, "fontlist-*.json").Any())
        {
            return;
        }
        var start = new ProcessStartInfo(pythonPath)
        {
            ArgumentList = { "-s", "-c", "import matplotlib.font_manager" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.Environment.Clear();
        start.Environment["MPLCONFIGDIR"] = directory;
        start.Environment["HOME"] = directory;
        start.Environment["XDG_CACHE_HOME"] = directory;
        using var process = Process.Start(start) ?? throw new SandboxStartException("could not run Python to build matplotlib's font cache");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            // matplotlib missing is reported by doctor; sandboxes then build no cache at all.
            return;
        }
        foreach (var file in System.IO.Directory.EnumerateFiles(directory))
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        _ = await stderr;
    }
}

using System.Globalization;
using System.Text.Json;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Descriptors = "file descriptors";

    /// <summary>
    /// Lists the descriptors of the given processes from inside: target, mount id and flags. A
    /// path is only trustworthy with its mount: the host's /dev/null reads "/dev/null" too, but
    /// sits on a mount the sandbox does not have. Pipes and sockets are printed on a PIPES line
    /// for the host to find who holds their other ends.
    /// </summary>
    private static string DescriptorSurvey(string pids) => $$"""
        import json, os
        mounts = {l.split()[0] for l in open('/proc/self/mountinfo')}
        def inside_view(target):
            return (target.startswith(('pipe:[', 'anon_inode:', 'socket:[', '/dev/null', '/dev/pts/', '/proc/'))
                    or any(target == p or target.startswith(p + '/') for p in ('/home/user', '/tmp', '/dev/shm', '/usr', '/opt/vivarium')))
        found, foreign, channels = {}, [], {}
        for pid in {{pids}}:
            try:
                fds = sorted(os.listdir(f'/proc/{pid}/fd'), key=int)
            except OSError as e:
                found[pid] = type(e).__name__
                continue
            found[pid] = []
            for fd in fds:
                try:
                    target = os.readlink(f'/proc/{pid}/fd/{fd}')
                    info = dict(l.split(':', 1) for l in open(f'/proc/{pid}/fdinfo/{fd}').read().splitlines() if ':' in l)
                except OSError:
                    continue  # the descriptor listdir used, already closed
                found[pid].append(f'{fd}->{target.split("[")[0]}')
                if target.startswith(('pipe:[', 'socket:[')):
                    channels[f'{pid}/{fd}'] = target
                elif target.startswith('anon_inode:'):
                    pass  # eventfd, epoll...: kernel objects of the process itself, on no mount
                elif not inside_view(target) or info['mnt_id'].strip() not in mounts:
                    foreign.append(f'pid {pid} fd {fd} -> {target} (mount {info["mnt_id"].strip()})')
        for pid, entries in found.items():
            print(f'=> pid {pid}:', entries if isinstance(entries, str) else ', '.join(entries))
        print('=> descriptors on a mount or path outside the sandbox:', foreign)
        print('PIPES', json.dumps(channels))
        """;

    /// <summary>
    /// Host side: who holds the other ends of the pipes and sockets the sandbox holds. Only the
    /// server (the protocol and output pipes) and the sandbox's own processes may.
    /// </summary>
    private static List<string> ForeignChannelHolders(Exec exec, int sandboxUid)
    {
        var line = exec.Stdout.Split('\n').Single(l => l.StartsWith("PIPES ", StringComparison.Ordinal));
        var channels = JsonSerializer.Deserialize<Dictionary<string, string>>(line["PIPES ".Length..])!;
        var wanted = channels.Values.ToHashSet(StringComparer.Ordinal);
        var holders = HostView.DescriptorHolders(wanted);
        var foreign = new List<string>();
        foreach (var (where, target) in channels)
        {
            var others = holders.GetValueOrDefault(target, []).Where(h => h.Pid != Environment.ProcessId && h.Uid != sandboxUid).ToList();
            if (others.Count == 0)
            {
                continue;
            }
            var sandboxes = others.Where(h => h.CommandLine.Contains("vivarium_runner.py", StringComparison.Ordinal) || h.CommandLine.Contains("bwrap", StringComparison.Ordinal)).ToList();
            var outside = others.Except(sandboxes).ToList();
            foreign.Add($"fd {where} = {target} is also held by {others.Count} host processes: {outside.Count} outside any sandbox ("
                + string.Join(", ", outside.Select(h => $"{h.Pid} uid {h.Uid} '{CaseContext.Shorten(h.CommandLine, 40)}'").Take(5))
                + $") and {sandboxes.Select(h => h.Uid).Distinct().Count()} other sandboxes (host uids {string.Join(", ", sandboxes.Select(h => h.Uid).Distinct())})");
        }
        return foreign;
    }

    private static IEnumerable<SecurityCase> FileDescriptors()
    {
        yield return new SecurityCase(Descriptors, "descriptors a fresh interpreter holds (/proc/self/fd)", "close-on-exec + the runner's own set-up",
            "a handful: stdio, the protocol pair and the output pipes; none on a host path or mount, and no pipe or socket shared with a host process other than the server",
            async context =>
            {
                var id = await context.NewSessionAsync(context.Red);
                var sandbox = await HostView.LocateAsync(context, id, context.Red);
                var exec = await context.RunAsync(DescriptorSurvey("[os.getpid()]"), 15, id, context.Red);
                var foreign = ForeignChannelHolders(exec, sandbox.HostUid);
                Assert.True(foreign.Count == 0, $"pipes shared with the host: {string.Join("; ", foreign)}; {exec.Describe()}");
                SecurityCase.AssertExec(exec, "ok", ["descriptors on a mount or path outside the sandbox: []", "0->/dev/null"], []);
                int count = exec.Verdicts[0].Split(", ").Length;
                Assert.True(count <= 12, $"{count} descriptors");
                return $"{exec.Describe()}; every pipe is shared only with the server or the sandbox ({count} descriptors)";
            });

        yield return new SecurityCase(Descriptors, "descriptors of every process in the sandbox, bubblewrap's included", "pid namespace + bubblewrap closes what it opened",
            "none on a host path or mount, and no pipe or socket shared with a host process other than the server", async context =>
            {
                var sandbox = await HostView.LocateAsync(context, context.Fixture.AttackerSessionId, context.Red);
                var exec = await context.RunAsync(DescriptorSurvey("sorted(int(p) for p in os.listdir('/proc') if p.isdigit())"));
                var foreign = ForeignChannelHolders(exec, sandbox.HostUid);
                Assert.True(foreign.Count == 0, $"pipes shared with the host: {string.Join("; ", foreign)}; {exec.Describe()}");
                // bwrap's pid 1 keeps the server's stdin pipe; a forked pid 1 holds only the sandbox's /dev/null.
                SecurityCase.AssertExec(exec, "ok", ["descriptors on a mount or path outside the sandbox: []",
                    SecurityFixture.ForkServer ? "pid 1: 0->/dev/null, 1->/dev/null, 2->/dev/null\n" : "pid 1: 0->pipe:"], []);
                return exec.Describe();
            });
    }
}

/// <summary>A process holding one end of a pipe or socket.</summary>
public sealed record DescriptorHolder(int Pid, int Uid, string CommandLine);

public static partial class HostView
{
    /// <summary>For each target (<c>pipe:[ino]</c>, <c>socket:[ino]</c>), every host process holding it.</summary>
    public static Dictionary<string, List<DescriptorHolder>> DescriptorHolders(IReadOnlySet<string> targets)
    {
        var result = new Dictionary<string, List<DescriptorHolder>>(StringComparer.Ordinal);
        foreach (var process in HostProcesses.All())
        {
            IEnumerable<string> fds;
            try
            {
                fds = Directory.EnumerateFileSystemEntries($"/proc/{process.Pid.ToString(CultureInfo.InvariantCulture)}/fd").ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (var fd in fds)
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    continue;
                }
                if (target is not null && targets.Contains(target))
                {
                    if (!result.TryGetValue(target, out var list))
                    {
                        result[target] = list = [];
                    }
                    list.Add(new DescriptorHolder(process.Pid, process.Uid, process.CommandLine));
                }
            }
        }
        return result;
    }
}

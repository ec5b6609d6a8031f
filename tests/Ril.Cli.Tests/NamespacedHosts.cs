namespace Ril.Cli.Tests;

/// <summary>
/// Two "hosts" on this machine: network namespaces joined by a veth pair with private addresses on the veth only, so
/// that traffic between them is real TCP over an interface and nothing leaves the machine. Needs CAP_NET_ADMIN (root)
/// and iproute2; <see cref="Dispose"/> deletes both namespaces (which also removes the veth pair).
/// </summary>
public sealed class NamespacedHosts : IDisposable
{
    /// <summary>The subnet of the veth pair, for Open MPI's btl_tcp_if_include / oob_tcp_if_include.</summary>
    public const string Subnet = "10.213.7.0/24";
    public string[] Namespaces { get; }
    public string[] Addresses { get; } = ["10.213.7.1", "10.213.7.2"];
    /// <summary>The veth end inside each namespace.</summary>
    public string[] Interfaces { get; }
    readonly List<string> _created = [];

    public NamespacedHosts()
    {
        string tag = $"{Environment.ProcessId % 100000}";
        Namespaces = [$"rilA{tag}", $"rilB{tag}"];
        Interfaces = [$"va{tag}", $"vb{tag}"];
        Skip.IfNot(Processes.OnPath("ip"), "the two-host test needs iproute2's `ip` (Debian: apt-get install iproute2)");
        try
        {
            foreach (var ns in Namespaces)
            {
                Ip("netns", "add", ns);
                _created.Add(ns);
                Ip("-n", ns, "link", "set", "lo", "up");
            }
            Ip("link", "add", Interfaces[0], "netns", Namespaces[0], "type", "veth", "peer", "name", Interfaces[1], "netns", Namespaces[1]);
            for (int i = 0; i < 2; i++)
            {
                Ip("-n", Namespaces[i], "addr", "add", $"{Addresses[i]}/24", "dev", Interfaces[i]);
                Ip("-n", Namespaces[i], "link", "set", Interfaces[i], "up");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Bytes the first host has sent over the veth pair so far.</summary>
    public long BytesSent() =>
        long.Parse(Processes.Check(["ip", "netns", "exec", Namespaces[0], "cat", $"/sys/class/net/{Interfaces[0]}/statistics/tx_bytes"]).Trim());

    /// <summary>Runs `ip ARGS`, failing with a message that says what CAP_NET_ADMIN has to do with it.</summary>
    static void Ip(params string[] args)
    {
        var r = Processes.Run(["ip", .. args], timeoutSeconds: 30);
        // Without CAP_NET_ADMIN the machine cannot host the test: skipped, saying why.
        Skip.If(r.ExitCode != 0, $"`ip {string.Join(' ', args)}` failed ({r.Output.Trim()}); the two-host test creates network " +
                "namespaces and a veth pair, which needs CAP_NET_ADMIN (run the tests as root or in a container with NET_ADMIN)");
    }

    /// <summary>
    /// A launcher for Open MPI's plm_rsh_agent: mpirun calls it as `AGENT HOST COMMAND…` to start its daemon on a remote
    /// host; here a "host" is a namespace, entered with `ip netns exec`. Written to <paramref name="folder"/>.
    /// </summary>
    public string WriteAgent(string folder)
    {
        var path = Path.Combine(folder, "netns-agent.sh");
        var cases = string.Join("\n", Addresses.Select((a, i) => $"  {a}) ns={Namespaces[i]} ;;"));
        File.WriteAllText(path, $"""
            #!/bin/sh
            # Open MPI's remote launcher for hosts that are network namespaces of this machine.
            host="$1"; shift
            case "$host" in
            {cases}
              *) echo "netns-agent: unknown host $host" >&2; exit 1 ;;
            esac
            exec ip netns exec "$ns" /bin/sh -c "$*"

            """);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    public void Dispose()
    {
        foreach (var ns in _created.AsEnumerable().Reverse()) Processes.Run(["ip", "netns", "delete", ns], timeoutSeconds: 30);
        _created.Clear();
    }
}

using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Ledger.Host.Webhooks;

/// <summary>
/// Where webhooks may be sent. Outside Development: https only, and never to a loopback, private, link-local or other
/// non-public address (a merchant must not be able to make Ledger call into its own network: SSRF). The rule is applied
/// twice: to the URL when an endpoint is registered, and to every address the name resolves to when a delivery connects
/// (<see cref="ConnectAsync"/>), so a name that later resolves inward (DNS rebinding) is refused too. Redirects are never
/// followed. In Development both are allowed by default, for a receiver on this machine; each can be set either way.
/// </summary>
public sealed class WebhookUrlPolicy(IOptions<WebhookOptions> options, IHostEnvironment environment)
{
    public const int MaxUrlLength = 2048;

    private bool AllowHttp => options.Value.AllowHttp ?? environment.IsDevelopment();
    private bool AllowPrivateNetworks => options.Value.AllowPrivateNetworks ?? environment.IsDevelopment();

    /// <summary>Why this URL may not receive webhooks, or null if it may.</summary>
    public string? Refusal(string? url)
    {
        if (string.IsNullOrWhiteSpace(url)) return "Required.";
        if (url.Length > MaxUrlLength) return $"At most {MaxUrlLength} characters.";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || string.IsNullOrEmpty(uri.Host))
            return "Must be an absolute http(s) URL.";
        if (!string.IsNullOrEmpty(uri.UserInfo)) return "Must not carry a user name or password.";
        if (!string.IsNullOrEmpty(uri.Fragment)) return "Must not have a fragment.";
        if (uri.Scheme == "http" && !AllowHttp) return "Must use https.";
        var host = uri.IdnHost.TrimEnd('.').ToLowerInvariant();
        if (Matches(options.Value.DeniedHosts, host)) return "This host is not allowed (Ledger:Webhooks:DeniedHosts).";
        if (options.Value.AllowedHosts.Count > 0 && !Matches(options.Value.AllowedHosts, host))
            return "This host is not among the allowed ones (Ledger:Webhooks:AllowedHosts).";
        if (!AllowPrivateNetworks)
        {
            if (host == "localhost" || host.EndsWith(".localhost", StringComparison.Ordinal))
                return "Must not point to this machine (loopback).";
            if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && !IsPublic(address))
                return "Must not point to a loopback, private, link-local or otherwise non-public address.";
        }
        return null;
    }

    /// <summary>An exact name, or ".example.com" for the domain and its subdomains.</summary>
    private static bool Matches(IEnumerable<string> rules, string host) => rules.Any(rule =>
    {
        var r = rule.Trim().TrimEnd('.').ToLowerInvariant();
        return r.StartsWith('.') ? host.EndsWith(r, StringComparison.Ordinal) || host == r[1..] : host == r;
    });

    /// <summary>
    /// The connection of a delivery: the name resolved here, and only an allowed address connected to (SocketsHttpHandler's
    /// ConnectCallback). A name with no allowed address fails the attempt with a clear error.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = AllowPrivateNetworks ? addresses : addresses.Where(IsPublic).ToArray();
        if (allowed.Length == 0)
            throw new HttpRequestException($"{host} resolves to no address webhooks may be sent to (non-public addresses are refused).");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Whether an address is on the public internet: not loopback, private, link-local, shared, documentation, multicast or reserved.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] is 0 or 10 or 127 or >= 224 // this network, private, loopback, multicast and reserved
                || (b[0] == 100 && b[1] >= 64 && b[1] < 128) // shared address space (carrier-grade NAT)
                || (b[0] == 169 && b[1] == 254) // link-local, cloud metadata services
                || (b[0] == 172 && b[1] >= 16 && b[1] < 32)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2) // IETF protocol assignments, documentation
                || (b[0] == 198 && b[1] is 18 or 19) // benchmarking
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)
                || (b[0] == 203 && b[1] == 0 && b[2] == 113));
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.IPv6None) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal
            || address.IsIPv6Multicast || address.IsIPv6UniqueLocal) return false;
        var v6 = address.GetAddressBytes();
        // NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one. 2001:db8::/32 is documentation.
        if (v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b && v6[4..12].All(x => x == 0))
            return IsPublic(new IPAddress(v6[12..]));
        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0d && v6[3] == 0xb8) return false;
        return (v6[0] & 0xe0) == 0x20; // global unicast is 2000::/3
    }
}

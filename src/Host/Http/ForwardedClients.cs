using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace Ledger.Host.Http;

/// <summary>
/// Behind a balancer every request comes from the balancer's address. With <c>Ledger:Http:TrustedProxies</c> (addresses or
/// CIDR networks) the client's address is taken from the X-Forwarded-For the nearest trusted proxy added (one hop), so
/// the per-address rate limit of requests without a valid key, and the request log, see the client. Only those proxies
/// are trusted (not even loopback by default): anyone else's X-Forwarded-For is ignored, so a client cannot pick its
/// own address. Without the setting nothing is read.
/// </summary>
public static class ForwardedClients
{
    public static void UseForwardedClients(this WebApplication app)
    {
        var trusted = app.Configuration.GetSection("Ledger:Http:TrustedProxies").Get<string[]>() ?? [];
        if (trusted.Length == 0) return;
        var options = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor, ForwardLimit = 1 };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in trusted)
        {
            if (IPAddress.TryParse(entry, out var address)) options.KnownProxies.Add(address);
            else if (System.Net.IPNetwork.TryParse(entry, out var network)) options.KnownIPNetworks.Add(network);
            else throw new InvalidOperationException($"Ledger:Http:TrustedProxies: '{entry}' is neither an IP address nor a CIDR network.");
        }
        app.UseForwardedHeaders(options);
    }
}

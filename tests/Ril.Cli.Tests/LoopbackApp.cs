using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ril.Cli.Tests;

/// <summary>A Kestrel app on 127.0.0.1 at a free port, quiet, for the fake servers of these tests (the Hub, a judge).</summary>
public static class LoopbackApp
{
    /// <summary>Starts the app once <paramref name="map"/> has added its endpoints; returns it with its base URL (no trailing slash).</summary>
    public static async Task<(WebApplication App, string Url)> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/'));
    }
}

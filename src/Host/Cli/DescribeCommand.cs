using JasperFx.CommandLine;
using JasperFx.CommandLine.Descriptions;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

/// <summary>
/// JasperFx's `describe` (the application, its configuration, its assemblies, and what Marten and Wolverine say of
/// themselves) with one difference: configuration values that are secrets (API keys, the fingerprint key, passwords,
/// anything named secret or token) are printed as `***`. The built-in one prints every value as it is.
/// </summary>
[Description("Writes out a description of the application: environment, configuration (secrets masked), assemblies, Marten and Wolverine", Name = "describe")]
public sealed class DescribeCommand : JasperFxAsyncCommand<DescribeInput>
{
    public override async Task<bool> Execute(DescribeInput input)
    {
        using var host = input.BuildHost();
        ISystemPart[] parts =
        [
            new AboutThisAppPart(host.Services.GetRequiredService<IHostEnvironment>()),
            new MaskedConfiguration(host.Services.GetRequiredService<IConfiguration>()),
            new ReferencedAssemblies(),
            .. host.Services.GetServices<ISystemPart>(),
        ];
        if (input.ListFlag)
        {
            foreach (var part in parts) AnsiConsole.WriteLine("* " + part.Title);
            return true;
        }
        if (input.TitleFlag is { Length: > 0 } title) parts = parts.Where(p => p.Title == title).ToArray();
        if (input.FileFlag is { Length: > 0 }) AnsiConsole.Record();
        await JasperFx.CommandLine.Descriptions.DescribeCommand.WriteToConsole(parts);
        if (input.FileFlag is { Length: > 0 } file)
        {
            await File.WriteAllTextAsync(file, Path.GetExtension(file).Contains("html", StringComparison.OrdinalIgnoreCase) ? AnsiConsole.ExportHtml() : AnsiConsole.ExportText());
            AnsiConsole.WriteLine("Wrote system description to file " + file);
        }
        return true;
    }
}

/// <summary>Every configuration value with the provider it comes from; secrets masked.</summary>
internal sealed class MaskedConfiguration(IConfiguration configuration) : SystemPartBase("IConfiguration Preview", new Uri("system://configuration"))
{
    public override Task WriteToConsole()
    {
        var table = new Table().AddColumns("key", "value", "from");
        var providers = (configuration as IConfigurationRoot)?.Providers.Reverse().ToList() ?? [];
        foreach (var (key, value) in configuration.AsEnumerable().Where(kv => kv.Value is not null).OrderBy(kv => kv.Key, StringComparer.OrdinalIgnoreCase))
        {
            var from = providers.FirstOrDefault(p => p.TryGet(key, out _))?.ToString() ?? "";
            table.AddRow(Markup.Escape(key), Markup.Escape(Shown(key, value!)), Markup.Escape(from));
        }
        AnsiConsole.Write(table);
        return Task.CompletedTask;
    }

    /// <summary>A value as describe may print it: secrets as ***, connection strings and URIs without their password.</summary>
    public static string Shown(string key, string value)
    {
        var segments = key.Split(':');
        var leaf = segments[^1];
        if (segments.Any(s => s.Contains("secret", StringComparison.OrdinalIgnoreCase))
            || leaf.EndsWith("key", StringComparison.OrdinalIgnoreCase)
            || leaf.Contains("password", StringComparison.OrdinalIgnoreCase)
            || leaf.Contains("token", StringComparison.OrdinalIgnoreCase))
            return "***";
        // A URI with a password in it (the broker's amqp://user:password@host): the password masked.
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.UserInfo.IndexOf(':') is var colon and >= 0)
            return value.Replace(uri.UserInfo, uri.UserInfo[..colon] + ":***", StringComparison.Ordinal);
        if (segments[0].Equals("ConnectionStrings", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var builder = new Npgsql.NpgsqlConnectionStringBuilder(value);
                if (builder.Password is not null) builder.Password = "***";
                return builder.ConnectionString;
            }
            catch (ArgumentException)
            {
                return "***"; // not one we can read: not shown
            }
        }
        return value;
    }
}

using System.Globalization;
using System.Net;
using System.Text;
using Ledger.Domain.Money;
using Npgsql;

namespace Ledger.Host.Payments;

/// <summary>
/// The receipt a merchant hands to a customer: the merchant's display name, amounts as people write them, the status in
/// words, one line per charge and refund, the description and order, the card. One self-contained page (no external
/// assets), fitting one A4 or Letter sheet when printed.
/// </summary>
public static class ReceiptPage
{
    /// <summary>The merchant's name for customers: <c>Ledger:Merchants:&lt;id&gt;:DisplayName</c>, else its id.</summary>
    public static string DisplayName(IConfiguration configuration, string merchantId) =>
        configuration[$"Ledger:Merchants:{merchantId}:DisplayName"] is { Length: > 0 } name ? name : merchantId;

    public static async Task<string> RenderAsync(NpgsqlDataSource db, ReceiptResource r, string merchantName, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select status, description from payment_views where id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = r.PaymentId });
        string status = "succeeded";
        string? description = null;
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            if (await reader.ReadAsync(ct)) (status, description) = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
        return Html(r, merchantName, status, description);
    }

    public static string Html(ReceiptResource r, string merchantName, string status, string? description)
    {
        var currency = Currency.Of(r.Currency);
        string Money(long minor) => E(currency.Display(minor));
        var rows = new StringBuilder();
        foreach (var line in r.Lines)
            rows.Append($"<tr><td>{(line.Kind == "charge" ? "Payment" : "Refund")}</td><td class=\"when\">{When(line.At)}</td>" +
                        $"<td class=\"ref\">{E(line.Reference)}</td><td class=\"num\">{(line.Kind == "refund" ? "&minus;" : "")}{Money(line.Amount)}</td></tr>\n");
        var (statusText, statusClass) = status switch
        {
            "refunded" => ("Refunded", "refunded"),
            "partially_refunded" => ("Partly refunded", "partly"),
            _ => ("Paid", "paid"),
        };
        return $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Receipt {{E(r.ReceiptNumber)}} from {{E(merchantName)}}</title>
            <style>
              @page { margin: 15mm; }
              * { box-sizing: border-box; }
              body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 44em; margin: 2em auto; padding: 0 1em; color: #111; }
              header { display: flex; justify-content: space-between; align-items: baseline; border-bottom: 2px solid #111; padding-bottom: .5em; }
              h1 { font-size: 1.5em; margin: 0; }
              .status { font-weight: 600; padding: .15em .6em; border-radius: 1em; white-space: nowrap; }
              .paid { background: #e6f4ea; color: #0b6b2b; } .partly { background: #fff4e5; color: #8a4b00; } .refunded { background: #eceff1; color: #37474f; }
              dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1.5em; margin: 1.2em 0; }
              dt { color: #555; } dd { margin: 0; }
              table { width: 100%; border-collapse: collapse; margin: 1.2em 0; }
              td, th { padding: .45em .4em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
              th { font-size: .85em; color: #555; font-weight: 600; }
              .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
              .when { white-space: nowrap; } .ref { font-family: ui-monospace, monospace; font-size: .8em; word-break: break-all; }
              tfoot td { border-bottom: none; } tfoot tr.net td { font-weight: 700; border-top: 2px solid #111; }
              footer { color: #555; font-size: .85em; margin-top: 2em; }
              @media print { body { margin: 0; max-width: none; font-size: 12px; } .status { border: 1px solid currentColor; } }
            </style></head>
            <body>
              <header><h1>{{E(merchantName)}}</h1><span class="status {{statusClass}}">{{statusText}}</span></header>
              <dl>
                <dt>Receipt</dt><dd>{{E(r.ReceiptNumber)}}</dd>
                <dt>Date</dt><dd class="when">{{When(r.IssuedAt)}}</dd>
                <dt>Order</dt><dd>{{E(r.OrderId)}}</dd>
                {{(description is null ? "" : $"<dt>Description</dt><dd>{E(description)}</dd>")}}
                <dt>Paid with</dt><dd>{{E(Brand(r.Card.Brand))}} ending in {{E(r.Card.Last4)}}</dd>
              </dl>
              <table>
                <thead><tr><th>Item</th><th>Date</th><th>Reference</th><th class="num">Amount</th></tr></thead>
                <tbody>
            {{rows}}    </tbody>
                <tfoot>
                  <tr><td colspan="3">Total paid</td><td class="num">{{Money(r.TotalCharged)}}</td></tr>
                  <tr><td colspan="3">Total refunded</td><td class="num">{{(r.TotalRefunded > 0 ? "&minus;" : "")}}{{Money(r.TotalRefunded)}}</td></tr>
                  <tr class="net"><td colspan="3">Net</td><td class="num">{{Money(r.Net)}}</td></tr>
                </tfoot>
              </table>
              <footer>Payment {{E(r.PaymentId)}} &middot; amounts in {{E(r.Currency)}}</footer>
            </body></html>
            """;
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string When(DateTime utc) => utc.ToString("d MMM yyyy, HH:mm 'UTC'", CultureInfo.InvariantCulture).Replace(" ", "&nbsp;", StringComparison.Ordinal);

    /// <summary>The card network as people write it.</summary>
    public static string Brand(string brand) => brand switch
    {
        "visa" => "Visa", "mastercard" => "Mastercard", "amex" => "American Express", "discover" => "Discover",
        "jcb" => "JCB", "diners" => "Diners Club", "unionpay" => "UnionPay", _ => "Card",
    };
}

using NpgsqlTypes;

namespace Ledger.Projections;

public sealed record Column(string Name, NpgsqlDbType Type);

/// <summary>A read-model table: its columns in COPY order (a row is an array in this order), and the columns that identify a row.</summary>
public sealed record Table(string Name, string Projection, Column[] Columns, string[] Key)
{
    public string ColumnList => string.Join(", ", Columns.Select(c => c.Name));

    /// <summary>Where each key column is in a row.</summary>
    public int[] KeyIndexes { get; } = Key.Select(k => Array.FindIndex(Columns, c => c.Name == k)).ToArray();

    /// <summary>Where the stream version folded into a row is, or -1 if the table has none.</summary>
    public int VersionIndex { get; } = Array.FindIndex(Columns, c => c.Name == "version");
}

/// <summary>Every read-model table, by the projection that owns it. Rebuilds and audits work table by table.</summary>
public static class ReadModelTables
{
    private static Column T(string name) => new(name, NpgsqlDbType.Text);
    private static Column L(string name) => new(name, NpgsqlDbType.Bigint);
    private static Column I(string name) => new(name, NpgsqlDbType.Integer);
    private static Column S(string name) => new(name, NpgsqlDbType.Smallint);
    private static Column Ts(string name) => new(name, NpgsqlDbType.TimestampTz);
    private static Column D(string name) => new(name, NpgsqlDbType.Date);
    private static Column J(string name) => new(name, NpgsqlDbType.Jsonb);

    public static readonly Table PaymentViews = new("payment_views", "payment_views",
    [
        T("id"), T("merchant_id"), T("order_id"), L("amount"), T("currency"), T("status"), L("amount_refunded"), T("failure_code"),
        T("failure_message"), T("card_brand"), T("card_last4"), I("card_exp_month"), I("card_exp_year"), T("card_fingerprint"),
        T("description"), J("metadata"), T("gateway_reference"), T("receipt_number"), Ts("created_at"), Ts("updated_at"), L("version"),
    ], ["id"]);

    public static readonly Table RefundViews = new("refund_views", "payment_views",
        [T("id"), T("payment_id"), T("merchant_id"), L("amount"), T("reason"), Ts("created_at"), L("version")], ["id"]);

    public static readonly Table Receipts = new("receipts", "receipts",
    [
        T("payment_id"), T("merchant_id"), T("receipt_number"), T("order_id"), T("currency"), T("card_brand"), T("card_last4"),
        Ts("issued_at"), L("total_charged"), L("total_refunded"), L("version"),
    ], ["payment_id"]);

    public static readonly Table ReceiptLines = new("receipt_lines", "receipts",
        [T("payment_id"), L("line_no"), T("kind"), L("amount"), Ts("at"), T("reference")], ["payment_id", "line_no"]);

    public static readonly Table MetricsDaily = new("metrics_daily", "metrics",
    [
        T("merchant_id"), T("currency"), D("day"), S("stripe"), L("payments_created"), L("payments_succeeded"), L("payments_failed"),
        L("refunds_count"), L("gross_charged"), L("refunded"),
    ], ["merchant_id", "currency", "day", "stripe"]);

    public static readonly Table MetricsFailures = new("metrics_failures", "metrics",
        [T("merchant_id"), T("currency"), D("day"), T("code"), S("stripe"), L("count")], ["merchant_id", "currency", "day", "code", "stripe"]);

    public static readonly Table MetricsPositions = new("metrics_positions", "metrics", [T("payment_id"), L("version")], ["payment_id"]);

    public static readonly Table LedgerEntries = new("ledger_entries", "ledger",
        [T("payment_id"), L("version"), T("account"), T("currency"), L("debit"), L("credit"), Ts("at")], ["payment_id", "version", "account"]);

    public static readonly Table LedgerBalances = new("ledger_balances", "ledger",
        [T("account"), T("currency"), S("stripe"), L("debits"), L("credits")], ["account", "currency", "stripe"]);

    public static readonly IReadOnlyList<Table> All =
        [PaymentViews, RefundViews, Receipts, ReceiptLines, MetricsDaily, MetricsFailures, MetricsPositions, LedgerEntries, LedgerBalances];

    public static IReadOnlyList<string> Projections => All.Select(t => t.Projection).Distinct().ToList();
}

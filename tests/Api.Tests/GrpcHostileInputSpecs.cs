using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Grpc.V1;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Hostile input over gRPC: bytes that are not the message they claim to be, invalid UTF-8, messages over the limit,
/// enum values the contract does not have. Each gets a clear status that names the problem (never UNKNOWN or INTERNAL),
/// and nothing is written.
/// </summary>
public sealed class GrpcHostileInputSpecs : IAsyncLifetime
{
    private readonly GrpcHost _grpc = new();
    private TestDatabase _db => _grpc.Database;
    private HostProcess _host => _grpc.Process;
    private GrpcChannel _channel => _grpc.Channel;
    private string _url => _grpc.Url;

    public async ValueTask InitializeAsync() => await _grpc.StartAsync();

    private static Metadata As(string apiKey, string? idempotencyKey = null) => GrpcHost.As(apiKey, idempotencyKey);

    /// <summary>A hand-made call: the given message bytes in one gRPC frame over HTTP/2; the status it ends with.</summary>
    private async Task<(StatusCode Code, string Message)> Raw(string path, byte[] message)
    {
        using var http = new HttpClient();
        var frame = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1, 4), (uint)message.Length);
        message.CopyTo(frame, 5);
        var request = new HttpRequestMessage(HttpMethod.Post, _url + path)
        {
            Content = new ByteArrayContent(frame), Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.TryAddWithoutValidation("authorization", $"Bearer {LedgerApp.Acme}");
        request.Headers.TryAddWithoutValidation("idempotency-key", Requests.NewKey());
        using var response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK); // gRPC answers in its status, not in HTTP's
        string? Header(string name) =>
            response.TrailingHeaders.TryGetValues(name, out var t) ? t.Single() : response.Headers.TryGetValues(name, out var h) ? h.Single() : null;
        return ((StatusCode)int.Parse(Header("grpc-status")!, System.Globalization.CultureInfo.InvariantCulture), Uri.UnescapeDataString(Header("grpc-message") ?? ""));
    }

    private static CreatePaymentRequest Charge(string order) => new()
    {
        Amount = 1250, Currency = "USD", OrderId = order,
        Card = new Card { Number = Requests.GoodCard, ExpMonth = 12, ExpYear = 2030, Cvc = "123" },
    };

    [Fact]
    public async Task A_string_that_is_not_UTF8_and_bytes_that_are_not_protobuf_are_invalid_arguments_and_write_nothing()
    {
        var order = $"hostile-{Guid.NewGuid():N}"[..20];
        var bytes = Charge(order).ToByteArray();
        var currency = ByteString.CopyFromUtf8("USD").ToByteArray();
        var at = bytes.AsSpan().IndexOf(currency);
        bytes[at] = 0xC3; bytes[at + 1] = 0x28; // "USD" becomes an invalid two-byte UTF-8 sequence and a "D"

        var (notUtf8, message) = await Raw("/ledger.v1.Payments/CreatePayment", bytes);
        var (garbage, _) = await Raw("/ledger.v1.Payments/CreatePayment", [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]);
        var (truncated, _) = await Raw("/ledger.v1.Payments/CreatePayment", Charge(order).ToByteArray()[..^3]);

        notUtf8.ShouldBe(StatusCode.InvalidArgument);
        message.ShouldContain("UTF-8");
        garbage.ShouldBe(StatusCode.InvalidArgument);
        truncated.ShouldBe(StatusCode.InvalidArgument);
        (await _db.ScalarAsync<long>("select count(*) from payment_views where order_id = $1", order)).ShouldBe(0);
        (await _db.ScalarAsync<long>("select count(*) from idempotency_keys")).ShouldBe(0);
        _host.ErrorOutput.ShouldBeEmpty(); // a caller's mistake is not logged as the host's error
    }

    [Fact]
    public async Task A_message_over_64_KiB_is_resource_exhausted_and_writes_nothing()
    {
        var order = $"hostile-{Guid.NewGuid():N}"[..20];
        var request = Charge(order);
        request.Description = new string('x', 70 * 1024);

        var refused = await Should.ThrowAsync<RpcException>(new Payments.PaymentsClient(_channel).CreatePaymentAsync(request, As(LedgerApp.Acme, Requests.NewKey())).ResponseAsync);

        refused.StatusCode.ShouldBe(StatusCode.ResourceExhausted);
        (await _db.ScalarAsync<long>("select count(*) from payment_views where order_id = $1", order)).ShouldBe(0);
    }

    [Fact]
    public async Task Enum_values_the_contract_does_not_have_are_invalid_arguments_naming_the_field()
    {
        var client = new Payments.PaymentsClient(_channel);
        var payment = await client.CreatePaymentAsync(Charge($"hostile-{Guid.NewGuid():N}"[..20]), As(LedgerApp.Acme, Requests.NewKey()));

        var status = await Should.ThrowAsync<RpcException>(client.ListPaymentsAsync(new ListPaymentsRequest { Status = (PaymentStatus)42 }, As(LedgerApp.Acme)).ResponseAsync);
        var reason = await Should.ThrowAsync<RpcException>(client.RefundPaymentAsync(
            new RefundPaymentRequest { PaymentId = payment.Id, Reason = (RefundReason)9 }, As(LedgerApp.Acme, Requests.NewKey())).ResponseAsync);

        status.StatusCode.ShouldBe(StatusCode.InvalidArgument);
        status.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations.Single().Field.ShouldBe("status");
        reason.StatusCode.ShouldBe(StatusCode.InvalidArgument);
        reason.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations.Single().Field.ShouldBe("reason");
        (await _db.ScalarAsync<long>("select count(*) from refund_views where payment_id = $1", payment.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task An_unknown_method_is_unimplemented()
    {
        var (code, _) = await Raw("/ledger.v1.Payments/DeletePayment", []);
        code.ShouldBe(StatusCode.Unimplemented);
    }

    public async ValueTask DisposeAsync() => await _grpc.DisposeAsync();
}

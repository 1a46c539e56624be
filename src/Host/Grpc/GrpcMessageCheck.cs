using System.Buffers.Binary;
using Google.Protobuf;
using Ledger.Host.Http;

namespace Ledger.Host.Grpc;

/// <summary>
/// Every call of Ledger's services carries one request message. One the protobuf parser refuses (invalid UTF-8 in a
/// string, a malformed or truncated field, bytes that are not protobuf at all) is the caller's mistake: it is answered
/// INVALID_ARGUMENT here, before gRPC's own handler, which reads the message before any interceptor runs and would call
/// the failure UNKNOWN ("Exception was thrown by handler"). Messages over the size limit are left to gRPC's own check
/// (RESOURCE_EXHAUSTED, once Kestrel's HTTP body limit is lifted for the call); compressed ones to its decompression.
/// </summary>
public static class GrpcMessageCheck
{
    /// <summary>"/ledger.v1.Payments/CreatePayment" -> the parser of its request message, for every method of both services.</summary>
    private static readonly Dictionary<string, MessageParser> Parsers =
        new[] { Ledger.Grpc.V1.Payments.Descriptor, Ledger.Grpc.V1.Audit.Descriptor }
            .SelectMany(service => service.Methods.Select(m => ($"/{service.FullName}/{m.Name}", m.InputType.Parser)))
            .ToDictionary(p => p.Item1, p => p.Parser, StringComparer.Ordinal);

    public static void UseGrpcMessageCheck(this WebApplication app) =>
        app.UseWhen(http => GrpcErrors.IsGrpc(http.Request) && http.Request.Path.Value is { } path && Parsers.ContainsKey(path), branch => branch.Use(CheckAsync));

    private static async Task CheckAsync(HttpContext http, RequestDelegate next)
    {
        var parser = Parsers[http.Request.Path.Value!];
        // gRPC limits each message itself (RESOURCE_EXHAUSTED); Kestrel's limit on HTTP bodies would cut the read short and
        // turn the same mistake into UNKNOWN.
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null;
        http.Request.EnableBuffering(bufferThreshold: JsonBody.MaxBytes, bufferLimit: JsonBody.MaxBytes + 5);
        var body = new MemoryStream();
        try
        {
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
        }
        catch (IOException)
        {
            // Over the buffer's limit: longer than any message gRPC accepts; its own size check answers it.
            http.Request.Body.Position = 0;
            await next(http);
            return;
        }
        http.Request.Body.Position = 0;
        var frame = body.GetBuffer().AsMemory(0, (int)body.Length);
        // A gRPC frame: a compressed flag, a big-endian length, the message. Anything else is gRPC's to refuse.
        if (frame.Length >= 5 && frame.Span[0] == 0 && BinaryPrimitives.ReadUInt32BigEndian(frame.Span[1..5]) == frame.Length - 5)
        {
            try
            {
                parser.ParseFrom(frame.Span[5..]);
            }
            catch (InvalidProtocolBufferException e)
            {
                await GrpcErrors.WriteAsync(http, new ApiProblem(400, "invalid_message", "The request message is not valid protobuf.",
                    $"{e.Message} Strings must be valid UTF-8."));
                return;
            }
        }
        await next(http);
    }
}

#!/usr/bin/env node
// One call to Ledger's gRPC API the way an outside caller makes it: @grpc/grpc-js and @grpc/proto-loader (npm), the
// service definitions loaded from proto/ledger/v1/*.proto at run time, nothing generated or shared with the host.
//   node scripts/grpc-call.mjs ADDRESS Service/Method 'REQUEST-JSON' [metadata-name=value ...] [--take N]
//   node scripts/grpc-call.mjs 127.0.0.1:5081 Payments/CreatePayment '{"amount":1250,...}' authorization='Bearer sk_test_acme' idempotency-key=k1
// Prints one JSON document: {"response": ..., "headers": {...}} or {"error": {"code", "codeName", "message", "details"}},
// with a google.rpc.Status's details (ErrorInfo, BadRequest, RetryInfo) decoded. A server stream (Audit/WatchLog) prints
// one JSON line per message and ends after --take N of them (default 10). Exit code 0 either way; 2 on a usage error.
// Needs NODE_PATH to find the two packages (docs/grpc.md: npm install --prefix .data/npm @grpc/grpc-js @grpc/proto-loader).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const args = process.argv.slice(2);
const takeAt = args.indexOf('--take');
const take = takeAt >= 0 ? Number(args.splice(takeAt, 2)[1]) : 10;
const [address, method, body, ...pairs] = args;
if (!address || !method || !method.includes('/')) {
  console.error('usage: grpc-call.mjs ADDRESS Service/Method REQUEST-JSON [name=value ...]');
  process.exit(2);
}
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto');
const definition = protoLoader.loadSync(['ledger/v1/payments.proto', 'ledger/v1/audit.proto'], {
  includeDirs: [root], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true,
});
const ledger = grpc.loadPackageDefinition(definition).ledger.v1;
const [service, rpc] = method.split('/');
const client = new ledger[service](address, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
for (const pair of pairs) {
  const at = pair.indexOf('=');
  metadata.add(pair.slice(0, at), pair.slice(at + 1));
}

// google.rpc's error model, enough of it to read what Ledger sends in grpc-status-details-bin.
const rpcTypes = protobuf.parse(`
  syntax = "proto3"; package google.rpc;
  message Any { string type_url = 1; bytes value = 2; }
  message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
  message FieldViolation { string field = 1; string description = 2; }
  message BadRequest { repeated FieldViolation field_violations = 1; }
  message Duration { int64 seconds = 1; int32 nanos = 2; }
  message RetryInfo { Duration retry_delay = 1; }
`).root;

function details(error) {
  const bytes = error.metadata?.get('grpc-status-details-bin')?.[0];
  if (!bytes) return [];
  const status = rpcTypes.lookupType('google.rpc.Status').decode(bytes);
  return status.details.map(any => {
    const name = any.typeUrl.split('/').pop();
    const type = rpcTypes.lookupType(name);
    return { '@type': name, ...type.toObject(type.decode(any.value), { longs: String }) };
  });
}

function printError(error) {
  const codeName = Object.keys(grpc.status).find(k => grpc.status[k] === error.code);
  console.log(JSON.stringify({ error: { code: error.code, codeName, message: error.details, details: details(error) } }, null, 2));
}

if (client[rpc].responseStream) {
  // A server stream: each message as it comes, one JSON line, until --take of them.
  let seen = 0;
  const stream = client[rpc](JSON.parse(body || '{}'), metadata);
  stream.on('data', message => {
    console.log(JSON.stringify(message));
    if (++seen >= take) { stream.cancel(); }
  });
  stream.on('error', error => { if (error.code !== grpc.status.CANCELLED) printError(error); client.close(); });
  stream.on('end', () => client.close());
} else {
  const headers = {};
  const call = client[rpc](JSON.parse(body || '{}'), metadata, { deadline: Date.now() + 30000 }, (error, response) => {
    if (error) {
      printError(error);
    } else {
      console.log(JSON.stringify({ headers, response }, null, 2));
    }
    client.close();
  });
  call.on('metadata', m => {
    for (const [k, v] of Object.entries(m.getMap())) if (k === 'idempotent-replayed') headers[k] = v;
  });
}

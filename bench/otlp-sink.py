#!/usr/bin/python3
"""An OTLP/HTTP sink for bench/tracing.sh: accepts POST /v1/traces on 127.0.0.1:PORT, answers 200 with an empty
ExportTraceServiceResponse, and counts requests and bytes (printed to stdout on SIGTERM). Decodes nothing: it stands
for a collector that keeps up, so the bench measures the host's cost of recording and exporting spans."""
import http.server, signal, sys

port = int(sys.argv[1])
counts = {"requests": 0, "bytes": 0}

class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        counts["requests"] += 1
        counts["bytes"] += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)
def stop(*_):
    print(f"otlp-sink: {counts['requests']} requests, {counts['bytes']} bytes", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
server.serve_forever()

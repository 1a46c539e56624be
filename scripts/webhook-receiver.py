#!/usr/bin/env python3
"""A webhook receiver to try Ledger's webhooks with: checks each delivery's signature, answers 2xx, de-duplicates by event id.

    python3 scripts/webhook-receiver.py --secret whsec_... [--port 5090]

Register http://127.0.0.1:5090/hooks as an endpoint (Development allows http and loopback). Each genuine delivery is
printed once as one line: event id, type, payment and status; a repeat (Ledger delivers at least once) is answered 200
and printed as a repeat; a delivery whose signature does not check out is answered 400. The check is verify() of
scripts/verify-webhook.py, the one docs/api.md documents.
"""
import argparse
import importlib.util
import json
import pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

spec = importlib.util.spec_from_file_location("verify_webhook", pathlib.Path(__file__).with_name("verify-webhook.py"))
verify_webhook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify_webhook)


def serve(secret: str, port: int) -> None:
    seen = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not verify_webhook.verify(secret, self.headers.get("Ledger-Signature", ""), body):
                self.send_response(400)
                self.end_headers()
                print("refused: signature does not check out", flush=True)
                return
            event = json.loads(body)
            repeat = event["id"] in seen
            seen.add(event["id"])
            payment = event["data"]["payment"]
            print(f"{'repeat ' if repeat else ''}{event['id']} {event['type']} {payment['id']} {payment['status']}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    print(f"listening on http://127.0.0.1:{port}/hooks", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()


if __name__ == "__main__":
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--secret", required=True)
    args.add_argument("--port", type=int, default=5090)
    a = args.parse_args()
    serve(a.secret, a.port)

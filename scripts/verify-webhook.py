#!/usr/bin/env python3
"""Checks a Ledger webhook's signature, as a receiver should before trusting a delivery (docs/api.md, "Webhooks").

    Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The body must be the exact bytes received (before any JSON parsing). A delivery is genuine when the header parses, its
time is within the tolerance of now (a replayed old request is refused; each retry is signed afresh), and one of its v1
values equals the HMAC of this body under the endpoint's secret, compared in constant time. Receivers then de-duplicate
by the body's "id": a delivery may come more than once.

Usage: verify-webhook.py --secret whsec_... --signature 't=...,v1=...' --body-file body.json [--tolerance 300]
Exit 0: genuine; 1: not.
"""
import argparse
import hashlib
import hmac
import sys
import time


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    try:
        parts = [p.split("=", 1) for p in header.split(",")]
        timestamp = int(next(v for k, v in parts if k == "t"))
        signatures = [v for k, v in parts if k == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


if __name__ == "__main__":
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--secret", required=True)
    args.add_argument("--signature", required=True)
    args.add_argument("--body-file", required=True)
    args.add_argument("--tolerance", type=int, default=300)
    a = args.parse_args()
    with open(a.body_file, "rb") as f:
        ok = verify(a.secret, a.signature, f.read(), a.tolerance)
    print("genuine" if ok else "NOT GENUINE")
    sys.exit(0 if ok else 1)

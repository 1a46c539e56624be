#!/usr/bin/env python3
"""Checks the hash chains of a Ledger `events export` (JSON lines, a file named or stdin) from the file alone.

The rule is docs/events.md's: content = SHA-256 of six lines (stream, version, type, time, data and metadata as
canonical JSON); hash = SHA-256(previous hash || content). Prints one line per event, "ok" or "MISMATCH", and exits
1 if any event does not hold. An export that starts mid-stream (--after N) is checked from where it starts.
"""
import fileinput
import hashlib
import json
import sys


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


last = {}
bad = 0
for line in fileinput.input(encoding="utf-8"):
    if not line.strip():
        continue
    e = json.loads(line)
    text = "\n".join([e["streamId"], str(e["version"]), e["type"], e["occurredAt"],
                      canonical_json(e["data"]), canonical_json(e["metadata"])])
    content = hashlib.sha256(text.encode("utf-8")).digest()
    previous = bytes.fromhex(e["previousHash"]) if e["previousHash"] else b""
    intact = hashlib.sha256(previous + content).hexdigest() == e["hash"]
    # The link to the version before, when this file holds it; a first event links to nothing.
    if e["version"] == 1:
        linked = e["previousHash"] is None
    else:
        linked = e["streamId"] not in last or e["previousHash"] == last[e["streamId"]]
    last[e["streamId"]] = e["hash"]
    bad += not (intact and linked)
    print(e["sequence"], e["streamId"], e["version"], "ok" if intact and linked else "MISMATCH")
sys.exit(1 if bad else 0)

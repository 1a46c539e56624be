#!/usr/bin/env python3
"""Checks a payment's inclusion proof (GET /v1/payments/{id}/proof) offline, with the public key alone.

    python3 scripts/verify-proof.py checkpoint-key.pub proof.json [proof.json ...]
    (after a key rotation, checkpoint-key.pub holds the old and the new public keys one after another)
    python3 scripts/verify-proof.py checkpoint-key.pub proofs/        (every *.json in the folder)

docs/events.md defines every step; this is them in Python's standard library, plus `openssl` for the signature.
Exit 0 when the checkpoint's signature holds (with the key its keyId names), every event's recomputed hash is in the
tree under its root, and the payment's events are versions 1, 2, ... each linked to the one before.
"""
import base64, hashlib, json, os, re, subprocess, sys, tempfile

def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

def event_hash(e):
    text = "\n".join([e["streamId"], str(e["version"]), e["type"], e["occurredAt"],
                      canonical_json(e["data"]), canonical_json(e["metadata"])])
    content = hashlib.sha256(text.encode("utf-8")).digest()
    previous = bytes.fromhex(e["previousHash"]) if e["previousHash"] else b""
    return hashlib.sha256(previous + content).digest()

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()

def root_from_path(leaf, index, size, path):  # RFC 9162, section 2.1.3.2
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return r if sn == 0 else None

def der_signature(raw):  # IEEE P1363 r||s -> ASN.1 DER, as openssl wants it
    def integer(b):
        b = b.lstrip(b"\x00") or b"\x00"
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(raw[:32]) + integer(raw[32:])
    return b"\x30" + bytes([len(body)]) + body

def public_keys(path):
    """keyId -> PEM, for every public key in the file; the key id is p256: + SHA-256 of the key's DER, 16 hex digits."""
    keys = {}
    for block in re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", open(path, encoding="ascii").read(), re.S):
        der = base64.b64decode("".join(block.splitlines()[1:-1]))
        keys["p256:" + hashlib.sha256(der).hexdigest()[:16]] = block + "\n"
    return keys

def signature_holds(c, keys):
    if c["keyId"] not in keys:
        return False
    text = "\n".join(["ledger-checkpoint-v1", str(c["eventCount"]), str(c["position"]), c["root"], c["at"], c["keyId"]])
    with tempfile.TemporaryDirectory() as d:
        message, signature, public_key = (os.path.join(d, n) for n in ("message", "signature", "key.pub"))
        open(public_key, "w", encoding="ascii").write(keys[c["keyId"]])
        open(message, "wb").write(text.encode("utf-8"))
        open(signature, "wb").write(der_signature(base64.b64decode(c["signature"])))
        run = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key, "-signature", signature, message],
                             capture_output=True)
        return run.returncode == 0

def proof_files(arguments):
    for a in arguments:
        if os.path.isdir(a):
            yield from sorted(os.path.join(a, f) for f in os.listdir(a) if f.endswith(".json"))
        else:
            yield a

keys, ok, signatures = public_keys(sys.argv[1]), True, {}
for file in proof_files(sys.argv[2:]):
    proof = json.load(open(file, encoding="utf-8"))
    checkpoint = proof["checkpoint"]
    if checkpoint["signature"] not in signatures:
        signatures[checkpoint["signature"]] = signature_holds(checkpoint, keys)
        print(f"checkpoint {checkpoint['eventCount']} events, root {checkpoint['root']}, key {checkpoint['keyId']}: "
              f"signature {'ok' if signatures[checkpoint['signature']] else 'FAILED'}"
              f"{'' if checkpoint['keyId'] in keys else ' (no public key given with that key id)'}")
    ok = ok and signatures[checkpoint["signature"]]
    previous, linked = None, True
    for n, p in enumerate(proof["events"], start=1):
        e = p["event"]
        # The stream as served: versions 1, 2, ... in order, each naming the one before as its previous hash.
        linked = linked and e["version"] == n and e["previousHash"] == previous
        hashed = event_hash(e)
        previous = hashed.hex()
        leaf = hashlib.sha256(b"\x00" + e["sequence"].to_bytes(8, "big") + hashed).digest()
        root = root_from_path(leaf, p["leafIndex"], checkpoint["eventCount"], [bytes.fromhex(h) for h in p["path"]])
        included = root is not None and root.hex() == checkpoint["root"]
        print(f"{e['streamId']} version {e['version']} at leaf {p['leafIndex']}: {'ok' if included else 'FAILED'}")
        ok = ok and included
    if proof["events"]:
        stream = proof["events"][0]["event"]["streamId"]
        print(f"{stream} versions 1 to {len(proof['events'])}, each linked to the one before: {'ok' if linked else 'FAILED'}")
        ok = ok and linked
sys.exit(0 if ok else 1)

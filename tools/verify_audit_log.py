#!/usr/bin/env python3
"""An independent verifier of BioMatch audit logs, written from docs/audit-log.md alone.

Checks an export (`biomatch audit export --jsonl`) entry by entry (each entry_hash and each
link), computes the RFC 9162 Merkle root over the export lines, and checks it against signed
checkpoints (C2SP signed notes, Ed25519) under the log's public key. Prints one JSON object;
exits 0 when everything holds, 1 otherwise.

    verify_audit_log.py --export log.jsonl --public-key KEY [--checkpoint FILE ...]
                        [--inclusion INDEX SIZE PROOF_JSON]

Needs Python 3 and the `cryptography` package (Debian: python3-cryptography).
"""
import argparse
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

COLUMNS = ["sequence", "recorded_at_ms", "key_id", "role", "system_actor", "action", "gallery_id",
           "gallery_name", "purpose", "case_reference", "probe_sha256", "parameters", "result",
           "previous_hash"]


def field(value):
    if value is None:
        return b"\x00"
    text = str(value).encode("utf-8")
    return b"\x01" + len(text).to_bytes(8, "big") + text


def entry_hash(entry):
    digest = hashlib.sha256(field("biomatch-audit-v1"))
    for column in COLUMNS:
        digest.update(field(entry[column]))
    return digest.hexdigest()


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The roots of the perfect subtrees on the tree's right edge, with their heights."""

    def __init__(self):
        self.size = 0
        self.stack = []

    def append(self, leaf_hash):
        self.stack.append((0, leaf_hash))
        self.size += 1
        while len(self.stack) > 1 and self.stack[-1][0] == self.stack[-2][0]:
            height, right = self.stack.pop()
            _, left = self.stack.pop()
            self.stack.append((height + 1, node(left, right)))

    def root(self):
        if not self.stack:
            return hashlib.sha256(b"").digest()
        result = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            result = node(left, result)
        return result


def parse_verifier_key(text):
    name, key_id, material = text.strip().split("+", 2)
    raw = base64.b64decode(material)
    if len(raw) != 33 or raw[0] != 0x01:
        raise ValueError("not an Ed25519 note verifier key")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if expected.hex() != key_id:
        raise ValueError("the key ID does not match the key")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def read_checkpoint(note, key):
    name, key_id, public_key = key
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    verified = False
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line")
        signer, payload = line[2:].split(" ")
        payload = base64.b64decode(payload)
        if signer != name or payload[:4] != key_id:
            continue
        try:
            public_key.verify(payload[4:], text.encode())
            verified = True
        except InvalidSignature:
            pass
    if not verified:
        raise ValueError("no valid signature by %s" % name)
    origin, size, root = text.split("\n")[:3]
    if origin != name:
        raise ValueError("origin %r is not the key's name %r" % (origin, name))
    return int(size), base64.b64decode(root)


def root_from_inclusion(index, size, leaf_hash, proof):
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    fn, sn, result = index, size - 1, leaf_hash
    for sibling in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            result = node(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True)
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--checkpoint", action="append", default=[])
    parser.add_argument("--inclusion", nargs=3, metavar=("INDEX", "SIZE", "PROOF_JSON"))
    arguments = parser.parse_args()

    key_text = arguments.public_key
    if "+" not in key_text:
        with open(key_text) as handle:
            key_text = handle.read()
    key = parse_verifier_key(key_text)
    checkpoints = {}
    for path in arguments.checkpoint:
        with open(path) as handle:
            size, root = read_checkpoint(handle.read(), key)
        checkpoints[size] = root

    problems = []
    frontier = Frontier()
    roots = {}
    leaves = []
    previous = "0" * 64
    with open(arguments.export, "rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\n")
            if not line.strip():
                continue
            entry = json.loads(line)
            expected_sequence = frontier.size + 1
            if entry["sequence"] != expected_sequence:
                problems.append("entry %d: sequence %s" % (expected_sequence, entry["sequence"]))
            if entry["previous_hash"] != previous:
                problems.append("entry %d: does not link to the entry before" % expected_sequence)
            if entry_hash(entry) != entry["entry_hash"]:
                problems.append("entry %d: entry_hash is not the hash of its fields" % expected_sequence)
            previous = entry["entry_hash"]
            leaf_hash = leaf(line)
            if arguments.inclusion:
                leaves.append(leaf_hash)
            frontier.append(leaf_hash)
            if frontier.size in checkpoints:
                roots[frontier.size] = frontier.root()

    for size, root in sorted(checkpoints.items()):
        if size > frontier.size:
            problems.append("checkpoint %d: the export has only %d entries" % (size, frontier.size))
        elif roots.get(size) != root:
            problems.append("checkpoint %d: the root of the first %d entries differs" % (size, size))

    inclusion = None
    if arguments.inclusion:
        index, size, proof_path = int(arguments.inclusion[0]), int(arguments.inclusion[1]), arguments.inclusion[2]
        with open(proof_path) as handle:
            proof = [base64.b64decode(h) for h in json.load(handle)["hashes"]]
        computed = root_from_inclusion(index, size, leaves[index], proof)
        # The proof must lead to a root someone can trust: a signed checkpoint of that size, or
        # (for the whole export) the root computed here.
        if size in checkpoints:
            inclusion = computed == checkpoints[size]
        else:
            inclusion = size == frontier.size and computed == frontier.root()
        if not inclusion:
            problems.append("inclusion proof of leaf %d in size %d does not lead to the signed root" % (index, size))

    print(json.dumps({
        "entries": frontier.size,
        "root": frontier.root().hex(),
        "checkpoints_matched": sorted(s for s in checkpoints if roots.get(s) == checkpoints[s]),
        "inclusion_verified": inclusion,
        "problems": problems,
    }, sort_keys=True))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

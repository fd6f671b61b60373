#!/usr/bin/env python3
"""Reads criterion's estimates from target/criterion and prints the per-message cost of the
protocol beside the cost of its primitives (docs/BENCHMARKS.md).

Usage: cargo bench -p sovra-proto --bench crypto && python3 scripts/bench_ratio.py
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def mean_ns(group, name, size):
    path = root / group / name / size / "new" / "estimates.json"
    if not path.exists():
        sys.exit(f"missing {path}: run `cargo bench -p sovra-proto --bench crypto` first")
    return json.loads(path.read_text())["mean"]["point_estimate"]


def single(group, name):
    path = root / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"] if path.exists() else None


def us(ns):
    return f"{ns / 1000:.2f} µs"


for name in ["sign", "verify"]:
    v = single("identity", name)
    if v:
        print(f"identity {name}: {us(v)}")
for name in ["initiator_send", "responder_receive_accept", "initiator_complete"]:
    v = single("handshake", name)
    if v:
        print(f"handshake {name}: {us(v)}")
for size in ["1KiB", "64KiB"]:
    seal = mean_ns("message", "seal_sign", size)
    open_ = mean_ns("message", "verify_open", size)
    sign = mean_ns("primitive", "ed25519_sign", size)
    verify = mean_ns("primitive", "ed25519_verify", size)
    aead = mean_ns("primitive", "chacha20poly1305_seal", size)
    protocol = seal + open_
    floor = sign + verify + 2 * aead
    print(
        f"{size}: seal+sign {us(seal)}, verify+open {us(open_)}, per message {us(protocol)}; "
        f"primitives sign {us(sign)} + verify {us(verify)} + 2x AEAD {us(2 * aead)} = {us(floor)}; "
        f"ratio {protocol / floor:.3f}"
    )

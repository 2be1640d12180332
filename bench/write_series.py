#!/usr/bin/env python3
"""Writes one sample per given series to a remote-write URL (protobuf +
snappy encoded here, literals only, so no library is needed).

  bench/write_series.py URL 'name{a="b",c="d"}=1.5' ... [--ms T] [--ca FILE]
"""
import re, ssl, struct, sys, time, urllib.request


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def snappy_literal(data):
    out = varint(len(data))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out += bytes([n << 2])
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return out


def main():
    args, ms, ca = [], int(time.time() * 1000), None
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--ms":
            ms = int(next(it))
        elif a == "--ca":
            ca = next(it)
        else:
            args.append(a)
    url, series = args[0], args[1:]
    req = b""
    for s in series:
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}=(.+)', s)
        name, body, value = m.group(1), m.group(2), float(m.group(3))
        labels = [("__name__", name)] + re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', body)
        ts = b"".join(field(1, 2, field(1, 2, k.encode()) + field(2, 2, v.encode()))
                      for k, v in sorted(labels))
        ts += field(2, 2, field(1, 1, struct.pack("<d", value)) + field(2, 0, varint(ms)))
        req += field(1, 2, ts)
    r = urllib.request.Request(url, data=snappy_literal(req), method="POST", headers={
        "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    with urllib.request.urlopen(r, context=ctx, timeout=30) as resp:
        if resp.status != 204:
            sys.exit("write: HTTP %d" % resp.status)


main()

"""Prometheus remote-write 1.0 requests for the Python tests, with the
standard library only: prometheus.WriteRequest encoded as protobuf by hand,
in a snappy block made of literal elements (valid snappy, not compressed), so
neither python3-protobuf nor python3-snappy is needed.

    import remote_write  # after sys.path.insert(0, <repo>/tests/pylib)
    body = remote_write.encode([({"__name__": "up", "job": "x"}, [(t_ms, 1.0)])])
    urllib.request.Request(url, data=body, method="POST", headers=remote_write.HEADERS)
"""
import struct

# The headers of a remote-write 1.0 request.
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def varint(n):
    """Protobuf base-128 varint of n (negative numbers as 64-bit two's complement)."""
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    """One protobuf field: key, then payload (wire 2: length-delimited)."""
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def write_request(series):
    """series: [(labels dict, [(t_ms, value), ...]), ...] -> prometheus.WriteRequest bytes.

    Labels are written sorted by name, as remote-write requires."""
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name in sorted(labels):
            ts += field(1, 2, field(1, 2, name.encode()) + field(2, 2, labels[name].encode()))
        for t_ms, v in samples:
            ts += field(2, 2, field(1, 1, struct.pack("<d", v)) + field(2, 0, varint(t_ms)))
        out += field(1, 2, bytes(ts))
    return bytes(out)


def snappy_literal(data):
    """A valid snappy block of `data` made of literal elements only."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def encode(series):
    """The body of a remote-write request carrying `series` (see write_request)."""
    return snappy_literal(write_request(series))

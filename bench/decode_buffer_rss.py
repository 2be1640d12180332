# RSS of a meridian process before and after remote-writes crafted to inflate
# its decode buffers (issue 7: 4 MiB of empty labels grew RSS by 63 MiB and
# kept it). First 3 x 4 MiB bodies without labels (the HTTP layer's own cost
# of a 4 MiB body), then 3 x 4 MiB bodies of empty labels (2M labels each).
# Usage: python3 bench/decode_buffer_rss.py BUILD/server/meridian
import http.client, os, shutil, socket, struct, subprocess, sys, tempfile, time

def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80]); n >>= 7
    return out + bytes([n])

def field(num, wt, payload):
    return varint(num << 3 | wt) + (varint(len(payload)) + payload if wt == 2 else payload)

def snappy_literal(raw):  # valid snappy: the whole body as literal chunks
    out = varint(len(raw)); i = 0
    while i < len(raw):
        chunk = raw[i:i + 65536]; n = len(chunk) - 1
        out += bytes([62 << 2]) + struct.pack("<I", n)[:3] + chunk; i += len(chunk)
    return out

def series(labels, t_ms, v=1.0):
    ts = b"".join(field(1, 2, field(1, 2, n) + field(2, 2, val)) for n, val in labels)
    ts += field(2, 2, field(1, 1, struct.pack("<d", v)) + field(2, 0, varint(t_ms)))
    return field(1, 2, ts)

def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])

def post(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/api/v1/write", body, {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
    r = c.getresponse(); data = r.read(); c.close(); return r.status, data[:120]

binary = sys.argv[1]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
p = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--data-dir", d + "/data"], stderr=open(d + "/log", "w"))
for _ in range(100):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/-/ready")
        if c.getresponse().status == 200: break
    except Exception: time.sleep(0.1)
now = int(time.time() * 1000)
post(port, snappy_literal(series([(b"__name__", b"warm")], now)))
if True:  # bodies without labels first
    body2 = snappy_literal(series([(b"__name__", b"rss_plain")], now) + field(15, 2, b"x" * (4 << 20)))
    [post(port, body2) for _ in range(3)]
    time.sleep(0.5)
    print("  after 3 x 4 MiB without labels first:", rss_kb(p.pid) - 0, "KiB")
time.sleep(0.5)
base = rss_kb(p.pid)
# 4 MiB of empty labels in one series (each Label {} is 2 bytes: 0x0A 0x00).
ts = field(1, 2, field(1, 2, b"__name__") + field(2, 2, b"rss_empty")) + b"\x0a\x00" * (2 << 20)
ts += field(2, 2, field(1, 1, struct.pack("<d", 1.0)) + field(2, 0, varint(now)))
body = snappy_literal(field(1, 2, ts))
st = [post(port, body) for _ in range(3)]
time.sleep(0.5)
after_empty = rss_kb(p.pid)
print(f"{os.path.basename(binary)}: base {base} KiB; after 3 x 4 MiB of empty labels: {after_empty} KiB (+{(after_empty-base)/1024:.1f} MiB); statuses {[x[0] for x in st]}")
# Same size, no labels: an unknown field of 4 MiB (skipped by the decoder).
body2 = snappy_literal(series([(b"__name__", b"rss_plain")], now) + field(15, 2, b"x" * (4 << 20)))
st = [post(port, body2) for _ in range(3)]
time.sleep(0.5)
after_plain = rss_kb(p.pid)
print(f"   then 3 x 4 MiB without labels: {after_plain} KiB (+{(after_plain-after_empty)/1024:.1f} MiB more); statuses {[x[0] for x in st]}")
p.terminate(); p.wait()
shutil.rmtree(d, ignore_errors=True)

# Median CONNECT-to-CONNACK time (3.1.1) for a known user with a wrong password vs an unknown user.
# usage: python3 timing.py PORT [N]
import socket, struct, sys, time, statistics
port = int(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
def s(x): b = x.encode(); return struct.pack(">H", len(b)) + b
def connect(user, pw, cid):
    body = s("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 60) + s(cid) + s(user) + s(pw)
    return bytes([0x10, len(body)]) + body
def once(user, i):
    c = socket.create_connection(("127.0.0.1", port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pkt = connect(user, "wrong-password", "t%d" % i)
    t = time.perf_counter(); c.sendall(pkt); r = c.recv(4); dt = time.perf_counter() - t
    c.close(); assert r[:1] == b"\x20", r; return dt * 1e6, r[3]
known, unknown = [], []
for i in range(n):
    a = once("alice", i); b = once("nobody-%d" % i, i)
    known.append(a[0]); unknown.append(b[0])
print("known user, wrong password: median %.0f us (code %d)" % (statistics.median(known), a[1]))
print("unknown user:               median %.0f us (code %d)" % (statistics.median(unknown), b[1]))

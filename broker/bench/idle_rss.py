import socket, sys, time, struct
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
base = rss()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    cid = b"idle%d" % i
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(cid)) + cid
    s.sendall(bytes([0x10, len(body)]) + body)
    socks.append(s)
for s in socks:
    s.recv(4)
time.sleep(2)
after = rss()
print(f"port {port}: {n} idle connections, RSS {base} KiB -> {after} KiB, {(after-base)*1024/n:.0f} B per connection")

"""Sends N identical GET requests over one keep-alive HTTP/1.1 connection,
one at a time, and prints the count of each status.

    python3 bench/keepalive.py HOST PORT PATH HEADER N

bench/load.sh's `instructions` phase drives a server under callgrind with
it: one request at a time, so the instructions per request are the server's
work for one request and nothing else.
"""
import socket, sys
host, port, path, header, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.create_connection((host, port))
req = f"GET {path} HTTP/1.1\r\nHost: x\r\n{header}\r\nAccept: */*\r\n\r\n".encode()
status = {}
buf = b""
for i in range(n):
    s.sendall(req)
    while True:
        i1 = buf.find(b"\r\n\r\n")
        if i1 >= 0:
            head = buf[:i1].decode()
            cl = 0
            for line in head.split("\r\n")[1:]:
                k, v = line.split(":", 1)
                if k.lower() == "content-length": cl = int(v)
            if len(buf) >= i1 + 4 + cl:
                code = head.split()[1]
                status[code] = status.get(code, 0) + 1
                buf = buf[i1 + 4 + cl:]
                break
        buf += s.recv(65536)
print(status)

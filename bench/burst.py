"""Bursts of concurrent HTTP requests (bench/load.sh's flood phase): every
`interval` seconds, `concurrency` connections each send one request at once
and read the answer. Prints the answers by status and the socket errors."""
import asyncio
import collections
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
path, header = sys.argv[2], sys.argv[3]
concurrency, bursts, interval = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{header}\r\nConnection: close\r\n\r\n").encode()
statuses, errors, slowest = collections.Counter(), collections.Counter(), 0.0


async def one():
    global slowest
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10)
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        statuses[line.split()[1].decode() if line else "closed"] += 1
        await reader.read()
        writer.close()
    except Exception as e:  # a connection error is what the benchmark counts
        errors[type(e).__name__] += 1
    slowest = max(slowest, time.monotonic() - t0)


async def main():
    for _ in range(bursts):
        t0 = time.monotonic()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))


asyncio.run(main())
print(f"answers {dict(statuses)}; socket errors {dict(errors) or 'none'}; slowest {slowest:.2f} s")

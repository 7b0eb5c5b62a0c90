"""Revocations across two instances (bench/load.sh's instances phase): for
`rounds` rounds, log in on instance A, see the session accepted on B, log
out on A (Django's logout, with its CSRF token), then poll B every
millisecond until it refuses the session. Prints the time B took to refuse
(p50, p99, max) and how many answers accepted a session after B had
refused it once (must be 0)."""
import http.client
import json
import statistics
import sys
import time

a, b, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])


def call(addr, method, path, headers=None, body=None):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    h = dict(headers or {})
    if data is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    r.read()
    cookies = {}
    for k, v in r.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            cookies[name] = rest.split(";", 1)[0]
    c.close()
    return r.status, cookies


took, accepted_after = [], 0
for _ in range(rounds):
    status, cookies = call(a, "POST", "/api/auth/session/login/", body={"username": "alice", "password": "alice-password-1"})
    assert status == 200, status
    cookie = f"sessionid={cookies['sessionid']}; csrftoken={cookies['csrftoken']}"
    assert call(b, "GET", "/api/whoami/session/", {"Cookie": cookie})[0] == 200
    status, _ = call(a, "POST", "/api/auth/session/logout/", {"Cookie": cookie, "X-CSRFToken": cookies["csrftoken"]})
    assert status == 204, status
    t0 = time.monotonic()
    while call(b, "GET", "/api/whoami/session/", {"Cookie": cookie})[0] == 200:
        if time.monotonic() - t0 > 5:
            sys.exit("B never refused a session ended on A")
        time.sleep(0.001)
    took.append((time.monotonic() - t0) * 1000)
    for _ in range(3):
        if call(b, "GET", "/api/whoami/session/", {"Cookie": cookie})[0] == 200:
            accepted_after += 1
took.sort()
p99 = took[min(len(took) - 1, len(took) * 99 // 100)]
print(f"{rounds} rounds: B refused in p50 {statistics.median(took):.2f} ms, p99 {p99:.2f} ms, max {took[-1]:.2f} ms; accepted after a refusal: {accepted_after}")

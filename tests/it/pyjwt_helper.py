"""Runs PyJWT for the interop tests: one JSON request per stdin line, one
JSON answer per stdout line. Only the test suite calls this."""
import json
import sys

import jwt

for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "encode":
            token = jwt.encode(req["claims"], req["key"], algorithm=req["alg"])
            print(json.dumps({"token": token}))
        else:
            claims = jwt.decode(
                req["token"],
                req["key"],
                algorithms=[req["alg"]],
                options={"require": ["exp", "iat"]},
                leeway=0,
            )
            print(json.dumps({"claims": claims}))
    except jwt.ExpiredSignatureError:
        print(json.dumps({"error": "Token has expired."}))
    except Exception as e:  # the message is what is compared
        print(json.dumps({"error": str(e)}))
    sys.stdout.flush()

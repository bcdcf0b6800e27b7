"""Schemathesis hooks for `cargo xtask test`'s API fuzzing (crates/app/tests/it/fuzz.rs).

Every operation that needs a bearer token gets one of a user registered through
the API. Operations the fuzzer calls may end that session (logout, logout-all,
a password change, deleting a session): on the next 401 schemathesis asks for a
token again, and gets a new user's.
"""

import json
import os
import urllib.request
import uuid

import schemathesis

BASE_URL = os.environ["FUZZ_BASE_URL"]


@schemathesis.auth()
class FreshUser:
    def get(self, case, ctx):
        body = json.dumps(
            {
                "email": f"fuzz-{uuid.uuid4().hex}@example.com",
                "password": "correct horse battery staple",
                "name": "Fuzz",
            }
        ).encode()
        request = urllib.request.Request(
            f"{BASE_URL}/api/v1/auth/register",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"

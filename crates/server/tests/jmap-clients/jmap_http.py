"""A small JMAP client on Python's standard library (urllib, http.client),
shared by the scripts of crates/server/tests/jmap.rs. Nothing here was
written against the server: it speaks RFC 8620 as the RFC says.

Environment: JMAP_BASE (http://127.0.0.1:PORT or https://…), JMAP_USER,
JMAP_PASSWORD; the tests add the other ports they need."""

import base64
import json
import os
import ssl
import urllib.error
import urllib.request

BASE = os.environ["JMAP_BASE"]
USER = os.environ["JMAP_USER"]
PASSWORD = os.environ["JMAP_PASSWORD"]
# The server's certificate is self-signed.
CTX = ssl._create_unverified_context()
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return "Basic " + token


def http(method, path, body=None, auth=(USER, PASSWORD), headers=None, base=None):
    """(status, headers, body bytes) of one request."""
    req = urllib.request.Request((base or BASE) + path, data=body, method=method)
    if auth:
        req.add_header("Authorization", basic(*auth))
    for k, v in (headers or {}).items():
        req.add_header(k, v)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=CTX)
    )
    try:
        with opener.open(req, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def post_json(body, auth=(USER, PASSWORD)):
    return http(
        "POST", "/jmap/", body, auth=auth, headers={"Content-Type": "application/json"}
    )


def api(calls, using=USING):
    """The methodResponses of a request, asserting HTTP 200."""
    status, _, body = post_json(json.dumps({"using": using, "methodCalls": calls}).encode())
    assert status == 200, (status, body)
    return json.loads(body)["methodResponses"]


def one(call):
    """The arguments of a single call's response ([name, args], call id
    added), asserting its name."""
    name = call[0]
    [(got, args, _)] = api([call + ["0"]])
    assert got == name, (got, args)
    return args


def session():
    status, headers, body = http("GET", "/.well-known/jmap")
    assert status == 200, (status, body)
    assert headers["Content-Type"].startswith("application/json"), headers
    return json.loads(body)

"""The signature of the webhooks vitrina sends, checked by code that is not
vitrina's: verifiers written here from Ecwid's documentation (take the
header; take eventCreated and eventId from the body; Base64 of HMAC-SHA256
over "{eventCreated}.{eventId}" keyed with the client secret; compare), in
Python and in Node.js (run by node), and the Python and Node.js functions
that docs/webhooks.md gives app developers, taken from the page and run as
they are. The webhooks are real: an app created through the API (its
secret from that answer), category changes, a test event and a replay, sent
by the worker to a receiver on loopback; the delivery log's copy of each
request verifies too. Another secret, eventId or eventCreated fails every
verifier, and the page's own example verifies."""

from __future__ import annotations

import base64
import hmac
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import Live, live_vitrina
from tests.processes import wait_until
from tests.receiver import Receiver, receiver

DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]


def ecwid_verifies(body: bytes, header: str, client_secret: str) -> bool:
    """Ecwid's four steps, written from its documentation (as its PHP does)."""
    decoded = json.loads(body)
    signed = "%s.%s" % (decoded["eventCreated"], decoded["eventId"])  # noqa: UP031  # as Ecwid's "$eventCreated.$eventId"
    mac = hmac.new(client_secret.encode("utf-8"), signed.encode("utf-8"), "sha256")
    return base64.b64encode(mac.digest()).decode("ascii") == header


# The same four steps in Node.js, beside the page's signatureOk (put in where
# DOCS_FUNCTION stands); one line per case: "<ours> <the page's>".
NODE = """
const crypto = require("crypto");
const fromDocs = (function () {
DOCS_FUNCTION
  return signatureOk;
})();
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
for (const c of cases) {
  const decoded = JSON.parse(c.body);
  const generated = crypto
    .createHmac("sha256", Buffer.from(c.secret, "utf8"))
    .update(Buffer.from(decoded.eventCreated + "." + decoded.eventId, "utf8"))
    .digest()
    .toString("base64");
  console.log(`${generated === c.header} ${fromDocs(c.body, c.header, c.secret)}`);
}
"""


def _docs_block(language: str, holding: str) -> str:
    """The fenced ``language`` block of docs/webhooks.md that holds ``holding``."""
    blocks: list[str] = re.findall(rf"^```{language}\n(.*?)^```$", DOCS.read_text(), re.S | re.M)
    (found,) = [b for b in blocks if holding in b]
    return found


def _docs_python() -> Callable[[bytes, str, str], bool]:
    scope: dict[str, Any] = {}
    exec(_docs_block("python", "def signature_ok"), scope)  # noqa: S102  # the page's own code
    verify: Callable[[bytes, str, str], bool] = scope["signature_ok"]
    return verify


def _node(cases: list[dict[str, str]]) -> list[tuple[bool, bool]]:
    script = NODE.replace("DOCS_FUNCTION", _docs_block("javascript", "function signatureOk"))
    run = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [
        (a == "true", b == "true")
        for a, b in (line.split() for line in run.stdout.split("\n") if line)
    ]


def _every_verdict(cases: list[dict[str, str]]) -> list[set[bool]]:
    """Per case, the verdicts of the four verifiers (one value when they agree)."""
    docs_python = _docs_python()
    verdicts = []
    for case, (node_ours, node_docs) in zip(cases, _node(cases), strict=True):
        body, header, secret = case["body"].encode(), case["header"], case["secret"]
        verdicts.append(
            {
                ecwid_verifies(body, header, secret),
                docs_python(body, header, secret),
                node_ours,
                node_docs,
            }
        )
    return verdicts


def _case(body: bytes | str, header: str, secret: str) -> dict[str, str]:
    return {
        "body": body if isinstance(body, str) else body.decode(),
        "header": header,
        "secret": secret,
    }


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_vitrina(
        tmp_path,
        run_jobs=True,  # the worker sends, as in vitrina serve
        webhook_allow_http=True,
        webhook_allow_networks=("127.0.0.0/8",),
    ) as served:
        yield served


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as started:
        yield started


def test_what_vitrina_sends_verifies_with_code_from_ecwids_documentation(
    live: Live, hooks: Receiver
) -> None:
    api = httpx.Client(
        base_url=f"{live.api}/{live.store}", headers={"Authorization": f"Bearer {live.token}"}
    )
    with api:
        created = api.post("/_webhooks/apps", json={"name": "Sync", "webhookUrl": hooks.url()})
        assert created.status_code == 200, created.text
        app, secret = created.json()["id"], created.json()["clientSecret"]
        category = api.post("/categories", json={"name": "Toys"}).json()["id"]
        api.put(f"/categories/{category}", json={"description": "All of them"})
        hooks.wait_for(3)
        assert api.post(f"/_webhooks/apps/{app}/test", json={"categoryId": category}).is_success
        hooks.wait_for(4)
        made = next(
            d
            for d in api.get("/_webhooks/deliveries").json()["items"]
            if d["eventType"] == "category.created"
        )
        assert api.post(f"/_webhooks/deliveries/{made['id']}/replay").is_success
        arrivals = hooks.wait_for(5)

        def deliveries() -> list[dict[str, Any]]:
            found = api.get("/_webhooks/deliveries", params={"app": app}).json()["items"]
            return list(found)

        # an attempt is recorded just after its receiver answered
        assert wait_until(lambda: all(d["state"] == "delivered" for d in deliveries()))
        logged = [
            api.get(f"/_webhooks/deliveries/{d['id']}").json()["attempts"][-1] for d in deliveries()
        ]
    # the first three may arrive in any order (an app gets up to four at once)
    assert sorted(a.event["eventType"] for a in arrivals[:3]) == [
        "application.installed",
        "category.created",
        "category.updated",
    ]
    (created_event,) = [a for a in arrivals[:3] if a.event["eventType"] == "category.created"]
    assert arrivals[3].event["eventType"] == "category.updated"  # the test event
    assert arrivals[4].body == created_event.body  # sent again: the same event and signature
    assert arrivals[4].header("X-Ecwid-Webhook-Signature") == created_event.header(
        "X-Ecwid-Webhook-Signature"
    )
    sent = [_case(a.body, a.header("X-Ecwid-Webhook-Signature"), secret) for a in arrivals]
    in_log = [
        _case(a["requestBody"], a["requestHeaders"]["X-Ecwid-Webhook-Signature"], secret)
        for a in logged
    ]
    assert len(in_log) == 5 and {c["body"] for c in in_log} == {c["body"] for c in sent}
    first = created_event.event
    header = created_event.header("X-Ecwid-Webhook-Signature")
    forged = [
        _case(created_event.body, header, secret[:-1] + ("x" if secret[-1] != "x" else "y")),
        _case(json.dumps({**first, "eventId": first["eventId"][::-1]}), header, secret),
        _case(json.dumps({**first, "eventCreated": first["eventCreated"] + 1}), header, secret),
        _case(created_event.body, "", secret),
    ]
    verdicts = _every_verdict(sent + in_log + forged)
    assert verdicts == [{True}] * 10 + [{False}] * 4


def test_the_example_on_the_page_verifies() -> None:
    text = DOCS.read_text()
    body = re.search(r'^(\{"eventId":.*\})$', text, re.M)
    header = re.search(r"^X-Ecwid-Webhook-Signature: (\S+)$", text, re.M)
    secret = re.search(r"client secret is\s+`([^`]+)`", text)
    assert body and header and secret
    length = re.search(r"^Content-Length: (\d+)$", text, re.M)
    assert length and int(length[1]) == len(body[1].encode())
    case = _case(body[1], header[1], secret[1])
    assert _every_verdict([case, {**case, "secret": "another"}]) == [{True}, {False}]

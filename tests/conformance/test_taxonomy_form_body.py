"""The Taxonomy API's GET with a form body, sent as Amplitude's docs write it, through `requests`.

The docs ("Get event properties" and "Get group properties", content/collections/api/en/taxonomy.md
in amplitude/amplitude-docs) send the type as a form body of a GET:

    curl --location --request GET 'https://amplitude.com/api/2/taxonomy/event-property' \\
    -u '{api_key}:{secret_key}' \\
    --header 'Content-Type: application/x-www-form-urlencoded' \\
    --data-urlencode 'event_type=EVENT_NAME'

`requests` (a client nobody here wrote) sends exactly that for ``requests.get(url, data={...})``;
the emulator must answer it as Amplitude does: the properties of that event type, else (no
``event_type``) the shared ones.
"""

from __future__ import annotations

import requests
from amplitude_emulator import Emulator

from tests.emulator_tests.helpers import STD_AUTH


def test_a_get_with_a_form_body_returns_that_event_types_properties(emulator: Emulator) -> None:
    url = f"{emulator.base_url}/api/2/taxonomy/event-property"
    plan = emulator.project("key-std").taxonomy()
    name = next(e["event_type"] for e in plan.event_types if not e["_hidden"])
    scoped = requests.get(url, auth=STD_AUTH, data={"event_type": name}, timeout=10)
    assert scoped.status_code == 200, scoped.text
    sent = scoped.request
    assert sent.method == "GET"
    assert "?" not in (sent.url or "")
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    data = scoped.json()["data"]
    assert data
    assert {item["event_type"] for item in data} == {name}
    shared = requests.get(url, auth=STD_AUTH, timeout=10).json()["data"]
    assert [item["event_property"] for item in shared] == ["source"]
    assert all(item.get("event_type") in (None, "") for item in shared)


def test_a_get_with_a_form_body_returns_that_group_types_properties(emulator: Emulator) -> None:
    url = f"{emulator.base_url}/api/2/taxonomy/group-property"
    scoped = requests.get(url, auth=STD_AUTH, data={"group_type": "company"}, timeout=10)
    assert scoped.status_code == 200, scoped.text
    assert {item["group_type"] for item in scoped.json()["data"]} == {"company"}
    other = requests.get(url, auth=STD_AUTH, data={"group_type": "team"}, timeout=10)
    assert other.json()["data"] == []

"""POST /identify and /groupidentify: every property operation, ties, groups and errors."""

from __future__ import annotations

import json

import pytest
import requests
from amplitude_emulator import Emulator

from tests.emulator_tests.helpers import identify

START = {"name": "Ada", "visits": 3, "tags": ["a", "b"], "score": 1.5, "gone": True}
OPERATIONS = [
    ({"$set": {"name": "Bea", "new": 1}}, {**START, "name": "Bea", "new": 1}),
    ({"$setOnce": {"name": "Bea", "city": "Paris"}}, {**START, "city": "Paris"}),
    (
        {"$add": {"visits": 2, "score": -0.5, "fresh": 4}},
        {**START, "visits": 5, "score": 1.0, "fresh": 4},
    ),
    (
        {"$append": {"tags": ["c", "a"], "name": "x"}},
        {**START, "tags": ["a", "b", "c", "a"], "name": ["Ada", "x"]},
    ),
    ({"$prepend": {"tags": "z", "list": 1}}, {**START, "tags": ["z", "a", "b"], "list": [1]}),
    ({"$unset": {"gone": "-", "absent": "-"}}, {k: v for k, v in START.items() if k != "gone"}),
    ({"$preInsert": {"tags": ["b", "y"]}}, {**START, "tags": ["y", "a", "b"]}),
    ({"$postInsert": {"tags": ["a", "y"]}}, {**START, "tags": ["a", "b", "y"]}),
    ({"$remove": {"tags": "a", "absent": 1}}, {**START, "tags": ["b"]}),
    ({"$clearAll": "-"}, {}),
    ({"$clearAll": "-", "$set": {"only": 1}}, {"only": 1}),
    ({"name": "Plain"}, {**START, "name": "Plain"}),
]


@pytest.mark.parametrize(("operations", "expected"), OPERATIONS)
def test_each_user_property_operation(emulator: Emulator, operations, expected) -> None:
    base = emulator.base_url
    assert identify(base, {"user_id": "user-00001", "user_properties": START}).status_code == 200
    response = identify(base, {"user_id": "user-00001", "user_properties": operations})
    assert response.status_code == 200
    assert response.text == "success"
    assert emulator.project("key-std").users["user-00001"] == expected


def test_array_of_identifications_and_device_tie(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    base = emulator.base_url
    identify(
        base,
        [
            {"device_id": "device-00001", "user_properties": {"anon": True}},
            {"user_id": "user-00002", "user_properties": {"plan": "pro"}},
        ],
    )
    assert project.devices["device-00001"] == {"anon": True}
    identify(
        base,
        {
            "user_id": "user-00002",
            "device_id": "device-00001",
            "user_properties": {"$add": {"logins": 1}},
        },
    )
    assert project.users["user-00002"] == {"plan": "pro", "anon": True, "logins": 1}
    identify(base, {"device_id": "device-00001", "user_properties": {"$set": {"via": "dev"}}})
    assert project.users["user-00002"]["via"] == "dev"  # the device shares the user's profile
    assert project.devices["device-00001"] is project.users["user-00002"]


def test_identify_groups_join_user_to_groups(emulator: Emulator) -> None:
    identify(
        emulator.base_url,
        {"user_id": "user-00003", "groups": {"company": "acme", "team": ["a", "b"]}},
    )
    assert emulator.project("key-std").user_groups["user-00003"] == {
        "company": "acme",
        "team": ["a", "b"],
    }


def test_group_identify_six_operations(emulator: Emulator) -> None:
    base = emulator.base_url
    group = {"group_type": "company", "group_value": "acme"}
    steps = [
        {"industry": "retail", "seats": 10, "tags": ["x"], "old": 1},
        {"$setOnce": {"industry": "tech", "founded": 1999}},
        {"$add": {"seats": 5}},
        {"$append": {"tags": "y"}},
        {"$prepend": {"tags": "w"}},
        {"$unset": {"old": "-"}},
        {"$set": {"plan": "enterprise"}},
    ]
    for properties in steps:
        assert (
            identify(
                base, {**group, "group_properties": properties}, path="/groupidentify"
            ).status_code
            == 200
        )
    assert emulator.project("key-std").groups[("company", "acme")] == {
        "industry": "retail",
        "seats": 15,
        "tags": ["w", "x", "y"],
        "founded": 1999,
        "plan": "enterprise",
    }
    refused = identify(
        base, {**group, "group_properties": {"$remove": {"tags": "x"}}}, path="/groupidentify"
    )
    assert refused.status_code == 400
    assert "$remove" in refused.json()["error"]
    missing = identify(base, {"group_type": "company"}, path="/groupidentify")
    assert missing.status_code == 400
    assert "group_value" in missing.json()["error"]


@pytest.mark.parametrize("path", ["/identify", "/groupidentify"])
def test_identify_errors(emulator: Emulator, path: str) -> None:
    # The legacy form endpoints answer in text/plain: missing_event, invalid_api_key.
    url = emulator.base_url + path
    missing = requests.post(url, data={"api_key": "key-std"}, timeout=10)
    assert (missing.status_code, missing.text) == (400, "missing_event")
    assert missing.headers["Content-Type"].startswith("text/plain")
    for raw in ["{bad json", "[]", "42", '["x"]']:
        response = requests.post(
            url, data={"api_key": "key-std", "identification": raw}, timeout=10
        )
        assert (response.status_code, response.text) == (400, "missing_event")
    no_key = requests.post(url, data={"identification": "{}"}, timeout=10)
    assert (no_key.status_code, no_key.text) == (400, "invalid_api_key")
    item = (
        {"user_id": "user-00001"}
        if path == "/identify"
        else {"group_type": "t", "group_value": "v"}
    )
    bad_key = identify(emulator.base_url, item, path=path, api_key="key-nope")
    assert (bad_key.status_code, bad_key.text) == (400, "invalid_api_key")
    assert bad_key.headers["Content-Type"].startswith("text/plain")
    wrong_region = identify(emulator.url("eu"), item, path=path)
    assert (wrong_region.status_code, wrong_region.text) == (400, "invalid_api_key")
    limit = 2000 if path == "/identify" else 1024
    assert identify(emulator.base_url, [item] * (limit + 1), path=path).status_code == 413
    assert identify(emulator.base_url, [item] * limit, path=path).status_code == 200
    huge = [
        {**item, "user_properties": {"x": "y" * 2000}, "group_properties": {"x": "y" * 2000}}
        for _ in range(600)
    ]
    assert identify(emulator.base_url, huge, path=path).status_code == 413


def test_identify_validation_applies_nothing(emulator: Emulator) -> None:
    project = emulator.project("key-std")
    base = emulator.base_url
    response = identify(
        base,
        [
            {"user_id": "user-00001", "user_properties": {"a": 1}},
            {"user_id": "user-00002", "user_properties": {"plain": 1, "$set": {"b": 2}}},
        ],
    )
    assert response.status_code == 400
    assert "index 1" in response.json()["error"]
    assert identify(base, {"user_properties": {"a": 1}}).status_code == 400
    assert identify(base, {"user_id": "null"}).status_code == 400
    assert (
        identify(
            base, {"user_id": "user-00001", "user_properties": {"$bogus": {"a": 1}}}
        ).status_code
        == 400
    )
    assert project.users == {}


@pytest.mark.parametrize("path", ["/identify", "/groupidentify"])
def test_every_documented_request_form(emulator: Emulator, path: str) -> None:
    """GET with a query string, a form POST and a multipart POST are all accepted."""
    project = emulator.project("key-std")
    url = emulator.base_url + path
    if path == "/identify":
        items = [{"user_id": f"user-0000{n}", "user_properties": {"n": n}} for n in range(3)]
    else:
        items = [
            {"group_type": "company", "group_value": f"acme-{n}", "group_properties": {"n": n}}
            for n in range(3)
        ]
    fields = [{"api_key": "key-std", "identification": json.dumps(item)} for item in items]
    answers = [
        requests.get(url, params=fields[0], timeout=10),
        requests.post(url, data=fields[1], timeout=10),
        requests.post(url, files={k: (None, v) for k, v in fields[2].items()}, timeout=10),
    ]
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 3
    assert "multipart/form-data" in emulator.requests_to(path)[-1].headers["Content-Type"]
    if path == "/identify":
        assert [project.users[f"user-0000{n}"] for n in range(3)] == [{"n": n} for n in range(3)]
    else:
        assert [project.groups[("company", f"acme-{n}")] for n in range(3)] == [
            {"n": n} for n in range(3)
        ]


def test_group_identify_limits_group_properties_per_request(emulator: Emulator) -> None:
    """At most 1024 group properties in one request, counted over all identifications."""
    base = emulator.base_url

    def groups(properties_each: int) -> list[dict]:
        return [
            {
                "group_type": "company",
                "group_value": f"acme-{n}",
                "group_properties": {"$set": {f"p{i}": i for i in range(properties_each)}},
            }
            for n in range(4)
        ]

    assert identify(base, groups(256), path="/groupidentify").status_code == 200
    over = identify(base, groups(257), path="/groupidentify")
    assert over.status_code == 413
    assert len(emulator.project("key-std").groups[("company", "acme-0")]) == 256

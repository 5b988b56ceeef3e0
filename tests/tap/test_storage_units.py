"""The storage source's pure parts: file names, the listing, the URL, the missing extra."""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import json
import os
import typing as t
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem
from tap_amplitude import export_reader
from tap_amplitude.errors import CorruptExportError
from tap_amplitude.settings import SettingsError, parse_settings
from tap_amplitude.storage import FileKind, build_listing, classify, parse_storage_url
from tap_amplitude.storage.listing import ProjectChoiceError
from tap_amplitude.storage.spool import IN_PROCESS_BELOW, download_archive
from tap_amplitude.streams.events_storage import hours_to_read, read_items
from tap_amplitude.windows import Window

H17 = dt.datetime(2020, 1, 25, 17, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("path", "kind", "owner", "partition"),
    [
        # Amplitude's own examples (destination-catalog amazon-s3.md / google-cloud-storage.md)
        ("bkt/events/187520/187520_2020-01-25_17#1.json.gz", FileKind.EVENTS, "187520", 1),
        ("bkt/-189524/-189524_2020-01-25_17.json.gz", FileKind.MERGED_IDS, "-189524", 0),
        # legacy organisations: the app id without '-'
        ("bkt/187520/187520_2020-01-25_17.json.gz", FileKind.MERGED_IDS, "187520", 0),
        ("187520_2020-01-25_17#12.json.gz", FileKind.EVENTS, "187520", 12),
        ("x/187520_2020-01-25_17_complete", FileKind.COMPLETE, "187520", 0),
    ],
)
def test_documented_file_names_are_recognised_anywhere(
    path: str, kind: FileKind, owner: str, partition: int
) -> None:
    found = classify(path, 10)
    assert found is not None
    assert (found.kind, found.owner_id, found.partition, found.hour) == (
        kind,
        owner,
        partition,
        H17,
    )


@pytest.mark.parametrize(
    "name",
    [
        "187520_2020-01-25_17#1.json",  # not gzip
        "187520_2020-01-25_24#1.json.gz",  # no hour 24
        "187520_2020-02-30_1#1.json.gz",  # no such day
        "readme.txt",
        "187520/",
    ],
)
def test_other_names_are_not_export_files(name: str) -> None:
    assert classify(name, 1) is None


def test_hours_without_leading_zero_and_with_one_are_the_same_hour() -> None:
    a = classify("1_2020-01-25_7#1.json.gz", 1)
    b = classify("1_2020-01-25_07#1.json.gz", 1)
    assert a is not None
    assert b is not None
    assert a.hour == b.hour


def test_listing_orders_partitions_and_finds_the_frontier() -> None:
    objects = [
        ("b/p/1/1_2020-01-25_17#2.json.gz", 5),
        ("b/p/1/1_2020-01-25_17#10.json.gz", 5),
        ("b/p/1/1_2020-01-25_17#1.json.gz", 5),
        ("b/p/1/1_2020-01-25_19_complete", 0),
        ("b/p/-9/-9_2020-01-25_18.json.gz", 5),
        ("b/p/notes.txt", 5),
    ]
    listing = build_listing(objects, None)
    assert [f.partition for f in listing.events[H17]] == [1, 2, 10]
    assert listing.frontier(FileKind.EVENTS) == H17 + dt.timedelta(hours=3)  # the label
    assert listing.frontier(FileKind.MERGED_IDS) == H17 + dt.timedelta(hours=2)
    assert listing.other_examples == ["b/p/notes.txt"]
    hours = list(listing.hours(FileKind.EVENTS, H17, H17 + dt.timedelta(hours=2)))
    items = list(read_items(hours))
    assert [(i.file.partition if i.file else None, i.last_of_hour) for i in items] == [
        (1, False),
        (2, False),
        (10, True),
        (None, True),
    ]


def test_several_projects_need_export_storage_project_id() -> None:
    objects = [("a/1_2020-01-25_17#1.json.gz", 1), ("a/2_2020-01-25_17#1.json.gz", 1)]
    with pytest.raises(ProjectChoiceError, match="set export_storage_project_id"):
        build_listing(objects, None)
    assert build_listing(objects, "2").events[H17][0].owner_id == "2"
    with pytest.raises(ProjectChoiceError, match="no event files of project 3"):
        build_listing(objects, "3")


def test_the_run_stops_at_the_export_frontier() -> None:
    end = H17 + dt.timedelta(hours=5)
    assert hours_to_read(H17, end, H17 + dt.timedelta(hours=2)) == (
        H17,
        H17 + dt.timedelta(hours=2),
    )
    assert hours_to_read(H17, end, None) == (H17, H17)
    assert hours_to_read(H17, end, end + dt.timedelta(hours=9)) == (H17, end)


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("s3://my-bucket/amplitude/export/", "my-bucket/amplitude/export"),
        ("gs://my-bucket", "my-bucket"),
        ("file:///data/amplitude", "/data/amplitude"),
    ],
)
def test_storage_urls(url: str, root: str) -> None:
    assert parse_storage_url(url).root == root


@pytest.mark.parametrize("url", ["my-bucket/x", "s3:/x", "az://c/x", "s3://B/x", "file://rel"])
def test_bad_storage_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"s3://bucket/prefix|absolute"):
        parse_storage_url(url)


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gcsfs" else real(name, *a)
    )
    config = {
        "api_key": "k",
        "secret_key": "s",
        "export_source": "storage",
        "export_storage_url": "gs://bucket/x",
    }
    with pytest.raises(SettingsError) as raised:
        parse_settings(config)
    assert "pip install 'singer-tap-amplitude[gcs]'" in str(raised.value)
    assert "export_storage_url" in str(raised.value)
    # The Export API source needs neither extra.
    assert not parse_settings({**config, "export_source": "api"}).storage.from_storage


def _gz_file(tmp_path: Path, lines: int) -> Path:
    """An export file over IN_PROCESS_BELOW (random text compresses badly)."""
    directory = tmp_path / "187520"
    directory.mkdir(exist_ok=True)
    body = b"".join(
        json.dumps({"uuid": str(i), "pad": os.urandom(64).hex()}).encode() + b"\n"
        for i in range(lines)
    )
    path = directory / "187520_2026-01-01_5#1.json.gz"
    path.write_bytes(gzip.compress(body, compresslevel=1))
    return path


def test_a_large_file_is_read_by_the_runs_worker_a_small_one_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over IN_PROCESS_BELOW the file goes to the run's decompressing worker (as an Export API
    body does); under it, the tap's own process reads it. Both give every line."""
    calls: list[int] = []
    real = export_reader.shared_worker

    def counting() -> t.Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(export_reader, "shared_worker", counting)
    location = parse_storage_url(f"file://{tmp_path}")
    for lines, expected_calls in ((20_000, 1), (10, 0)):
        calls.clear()
        path = _gz_file(tmp_path, lines)
        item = classify(str(path), path.stat().st_size)
        assert item is not None
        assert (path.stat().st_size > IN_PROCESS_BELOW) == (expected_calls == 1)
        window = Window(item.hour, item.hour + dt.timedelta(hours=1))
        with download_archive(LocalFileSystem(), location, item, window) as archive:
            read = b"".join(archive.blocks()).splitlines()
        assert [json.loads(line)["uuid"] for line in read] == [str(i) for i in range(lines)]
        assert len(calls) == expected_calls


def test_a_truncated_large_file_fails_naming_it(tmp_path: Path) -> None:
    path = _gz_file(tmp_path, 20_000)
    path.write_bytes(path.read_bytes()[:-5000])
    item = classify(str(path), path.stat().st_size)
    assert item is not None
    window = Window(item.hour, item.hour + dt.timedelta(hours=1))
    location = parse_storage_url(f"file://{tmp_path}")
    with (
        download_archive(LocalFileSystem(), location, item, window) as archive,
        pytest.raises(CorruptExportError, match=rf"file://{path}.*cannot be decompressed"),
    ):
        for _ in archive.blocks():
            pass

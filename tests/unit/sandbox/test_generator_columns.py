"""Column-batch building blocks: the same values whether computed one at a time or for many at once."""

from __future__ import annotations

import json

import numpy as np

from sandbox.generator import lines
from sandbox.generator.ids import is_sf_id, mix64, sf_id, sf_ids
from sandbox.generator.timeutil import iso_ms_z, iso_offset, sf_timestamp


def test_bulk_salesforce_ids_match_one_at_a_time() -> None:
    serials = np.array([0, 1, 61, 62, 3_843, 1_000_000, 62**5 + 17])
    bulk = [v.decode() for v in sf_ids("Contact", serials)]
    assert bulk == [sf_id("Contact", int(s)) for s in serials]
    assert all(is_sf_id(v, "Contact") for v in bulk)


def test_keyed_hash_does_not_depend_on_the_batch() -> None:
    people = np.arange(1_000)
    whole = mix64(7, "ip", people, people % 2)
    assert (mix64(7, "ip", people[500:], people[500:] % 2) == whole[500:]).all()
    assert (mix64(8, "ip", people, people % 2) != whole).any()


def test_timestamp_columns_match_the_scalar_formats() -> None:
    epochs = np.array([1_763_600_000.123, 1_774_000_000.9995, 1_791_000_000.0, 1_762_000_000.5])
    assert lines.iso_ms_z(epochs).to_pylist() == [iso_ms_z(float(e)).encode() for e in epochs]
    assert lines.sf_timestamps(epochs).to_pylist() == [sf_timestamp(float(e)).encode() for e in epochs]
    for zone in ("America/New_York", "Australia/Sydney"):
        assert lines.iso_offsets(epochs, zone).to_pylist() == [iso_offset(float(e), zone).encode() for e in epochs]


def test_joined_lines_are_json_and_written_one_per_line() -> None:
    names = lines.json_values(["Anna", 'say "hi"', None, "Müller"])
    block = lines.join('{"n":', names, ',"k":', lines.ints(np.arange(4)), "}")
    text = bytes(lines.to_bytes(block)).decode()
    assert [json.loads(line) for line in text.splitlines()] == [
        {"n": "Anna", "k": 0}, {"n": 'say "hi"', "k": 1}, {"n": None, "k": 2}, {"n": "Müller", "k": 3}]

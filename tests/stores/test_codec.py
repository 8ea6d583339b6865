"""The JSON codec: exact round trips, and refusals for what JSON cannot say."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given

from armorer_ray.errors import ConfigError, StoreError
from armorer_ray.stores import decode_json, encode_json
from tests.contracts.store import json_values


@given(value=json_values)
def test_json_values_round_trip_exactly(value: Any) -> None:
    encoded = encode_json(value)
    assert decode_json(encoded) == value
    assert encode_json(decode_json(encoded)) == encoded


def test_floats_keep_every_bit() -> None:
    for value in (0.1, -0.0, 5e-324, 1.7976931348623157e308, 1 / 3):
        back = decode_json(encode_json(value))
        assert isinstance(back, float) and math.copysign(1, back) == math.copysign(1, value) and back == value


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a": {1}}, b"raw", object()])
def test_what_json_cannot_say_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError):
        encode_json(value)


@pytest.mark.parametrize("data", [b"\xff\xfe", b"{not json", b""])
def test_bytes_that_are_not_json_are_a_store_error(data: bytes) -> None:
    with pytest.raises(StoreError):
        decode_json(data)

"""Decision helpers of enroll/identify (the unknown/ambiguous rule, metadata and identity checks) and the
decode pool."""

from __future__ import annotations

import pytest

from app import recognition
from app.errors import BadIdentity, BadMetadata, InvalidRequest, NotRunning, TooManyImages
from app.recognition import check_identity, check_image_count, decide, parse_metadata
from gallery.types import Candidate


def test_decide_nearest_within_threshold_matches():
    out = decide([Candidate("a", 0.2, 1), Candidate("b", 0.9, 2)], threshold=0.5, margin=0.05)
    assert (out.identity, out.distance, out.match, out.ambiguous) == ("a", 0.2, True, False)


def test_decide_nearest_at_threshold_matches():
    assert decide([Candidate("a", 0.5, 1)], threshold=0.5, margin=0.05).identity == "a"


def test_decide_nearest_beyond_threshold_is_unknown_but_keeps_candidates():
    out = decide([Candidate("a", 0.6, 1), Candidate("b", 0.9, 2)], threshold=0.5, margin=0.05)
    assert out.identity is None and out.match is False and out.distance == 0.6
    assert [c.identity for c in out.candidates] == ["a", "b"]


def test_decide_runner_up_within_margin_is_ambiguous():
    out = decide([Candidate("a", 0.30, 1), Candidate("b", 0.34, 2)], threshold=0.5, margin=0.05)
    assert out.identity == "a" and out.ambiguous is True


def test_decide_runner_up_beyond_margin_is_not_ambiguous():
    out = decide([Candidate("a", 0.30, 1), Candidate("b", 0.36, 2)], threshold=0.5, margin=0.05)
    assert out.ambiguous is False


def test_decide_no_candidates_is_unknown_with_null_distance():
    out = decide([], threshold=0.5, margin=0.05)
    assert (out.identity, out.distance, out.match, out.ambiguous, out.candidates) == (
        None,
        None,
        False,
        False,
        [],
    )


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_parse_metadata_absent_is_none(raw):
    assert parse_metadata(raw) is None


def test_parse_metadata_object_is_returned():
    assert parse_metadata('{"a": [1, 2], "b": null}') == {"a": [1, 2], "b": None}


@pytest.mark.parametrize("raw", ["[1]", '"text"', "3", "{bad", '{"x": Infinity}'])
def test_parse_metadata_non_object_raises_bad_metadata(raw):
    with pytest.raises(BadMetadata):
        parse_metadata(raw)


@pytest.mark.parametrize("identity", ["", "x" * 129, "tab\there"])
def test_check_identity_bad_raises_bad_identity(identity):
    with pytest.raises(BadIdentity):
        check_identity(identity)


def test_check_identity_printable_unicode_passes():
    assert check_identity("Zoë O'Neil / 42") == "Zoë O'Neil / 42"


def test_check_image_count_bounds():
    check_image_count(3, limit=3)
    with pytest.raises(TooManyImages):
        check_image_count(4, limit=3)
    with pytest.raises(InvalidRequest):
        check_image_count(0, limit=3)


@pytest.mark.parametrize("depth", [33, 100_000])
def test_parse_metadata_nested_too_deep_raises_bad_metadata(depth):
    with pytest.raises(BadMetadata, match="deep|recursion"):
        parse_metadata('{"a": ' + "[" * depth + "]" * depth + "}")


def test_parse_metadata_nested_32_levels_is_returned():
    raw = '{"a": ' + "[" * 31 + "]" * 31 + "}"
    assert parse_metadata(raw) is not None


async def test_decoding_after_the_runtime_stopped_is_refused_as_not_running(helpers, settings_factory):
    async with helpers.serving(settings_factory()) as (app, _):
        rt = app.state.runtime
        assert await recognition.on_decode_pool(rt, sum, [1, 2]) == 3
    with pytest.raises(NotRunning):
        await recognition.on_decode_pool(rt, sum, [1, 2])

"""The one dict -> dataclass builder behind VGGTConfig.from_dict and TrainConfig.from_dict."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from openvggt.dicts import from_dict


@dataclass(frozen=True)
class Inner:
    a: int = 1
    pair: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    name: str | dict = "x"
    grid: tuple = ()


def test_nested_partial_and_lists_become_tuples():
    out = from_dict(Outer, {"inner": {"pair": [3, 4]}, "maybe": {"a": 5}, "grid": [[1, 2], [3]]})
    assert out.inner == Inner(a=1, pair=(3, 4)) and out.maybe == Inner(a=5)
    assert out.grid == ((1, 2), (3,)) and out.name == "x"


def test_a_dict_for_a_non_dataclass_field_stays_a_dict():
    assert from_dict(Outer, {"name": {"k": 1}}).name == {"k": 1}


@pytest.mark.parametrize(
    ("data", "message"), [({"nope": 1}, "unknown Outer field 'nope'"), ({"inner": {"b": 2}}, "unknown Inner field 'b'")]
)
def test_unknown_keys_name_the_class_and_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        from_dict(Outer, data)


def test_not_a_mapping():
    with pytest.raises(ValueError, match="expected a mapping"):
        from_dict(Outer, [1, 2])

"""The launch-time input filter refuses what Container Service 3.7.3 refuses, with its words."""

from __future__ import annotations

import pytest

from xnat_plugin.commands.input_filter import (
    IllegalInputError,
    check_input_value,
    check_input_values,
    find_illegal_string,
)
from xnat_plugin.errors import UserError


@pytest.mark.parametrize(
    ("value", "illegal"),
    [
        ("a; rm -rf /", ";"),
        ("true && false", "&&"),
        ("a || b", "||"),
        ("`id`", "`"),
        ("(96,96,96)", "("),
        ("$(whoami)", "("),
    ],
)
def test_values_with_shell_control_strings_are_refused_with_xnats_message(
    value: str, illegal: str
) -> None:
    with pytest.raises(IllegalInputError) as caught:
        check_input_value("patch-size", value)
    assert (
        str(caught.value)
        == f'Input "patch-size" has a value containing illegal string "{illegal}".'
    )
    assert isinstance(caught.value, UserError)


@pytest.mark.parametrize(
    "value", ["96,96,96", "/models/spleen", "a|b", "a&b", "x)", "", "$HOME", ".*_monai_.*", None]
)
def test_ordinary_values_pass(value: str | None) -> None:
    assert find_illegal_string(value) is None
    check_input_value("anything", value)


def test_the_first_illegal_string_in_xnats_order_is_reported() -> None:
    assert find_illegal_string("(a) && b; c") == ";"


def test_every_value_of_a_launch_is_checked() -> None:
    with pytest.raises(IllegalInputError) as caught:
        check_input_values({"model-name": "spleen", "labels": "liver`id`"})
    assert caught.value.input_name == "labels"

"""The policy file: the default loads, both copies agree, every error names its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from decisions.policy import Policy, Thresholds
from decisions.policy_file import PolicyError, key_lines, line_of, load_policy, parse_policy
from events.errors import VerdictError
from events.outputs import Reason

ROOT = Path(__file__).resolve().parents[3]
PACKAGED = ROOT / "decisions" / "default_policy.toml"
COPY = ROOT / "policies" / "default.toml"


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.toml")
    return caught.value


def line_number(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_packaged_default_loads_with_its_version_and_hash() -> None:
    policy = load_policy()
    assert policy.version == "2026.11-1"
    assert policy.policy_version.startswith("2026.11-1+")
    assert len(policy.policy_version) == len("2026.11-1+") + 12
    assert policy.thresholds.fraud_decline == 0.92
    assert [rule.name for rule in policy.rules.lists][:2] == [
        "blocked_customers",
        "blocked_terminals",
    ]


def test_the_repository_copy_is_the_packaged_default() -> None:
    assert COPY.read_bytes() == PACKAGED.read_bytes()
    assert load_policy(COPY).policy_version == load_policy().policy_version


def test_the_version_changes_with_the_content_even_when_version_is_not_bumped() -> None:
    text = PACKAGED.read_text()
    changed = text.replace("fraud_decline = 0.92", "fraud_decline = 0.95")
    assert parse_policy(changed).version == parse_policy(text).version
    assert parse_policy(changed).policy_version != parse_policy(text).policy_version


def test_a_copy_is_validated_and_derives_everything_anew() -> None:
    policy = load_policy()
    stricter = policy.thresholds.model_copy(update={"fraud_decline": 0.8})
    changed = policy.model_copy(update={"thresholds": stricter})
    out: list[Reason] = []
    assert changed.thresholds.apply_fraud(0.85, out) == 3  # not the cached steps of the original
    assert policy.thresholds.apply_fraud(0.85, out) == 2
    assert changed.policy_version != policy.policy_version
    with pytest.raises(ValidationError):
        policy.thresholds.model_copy(update={"fraud_decline": 0.1})


def test_a_policy_without_version_is_named_by_its_hash() -> None:
    policy = parse_policy("[thresholds]\nfraud_review = 0.8\n")
    assert policy.policy_version == policy.digest[:12]
    assert Policy().policy_version == Policy().policy_version  # built in code: a stable hash


def test_a_wrong_type_names_its_line_and_key() -> None:
    text = 'version = "x"\n\n[thresholds]\nfraud_challenge = 0.5\nfraud_review = "high"\n'
    error = error_of(text)
    assert error.line == 5
    assert str(error).startswith("p.toml:5: thresholds.fraud_review: ")


def test_thresholds_out_of_order_name_the_offending_key() -> None:
    text = "[thresholds]\nfraud_review = 0.9\nfraud_decline = 0.7\n"
    assert str(error_of(text)) == (
        "p.toml:3: thresholds.fraud_decline: must be at least fraud_review (0.9)"
    )


def test_an_unknown_key_is_an_error_on_its_line() -> None:
    text = PACKAGED.read_text().replace("fail = ", "fial = ")
    error = error_of(text)
    assert error.line == line_number(text, "fial = ")
    assert "degraded.fial: unknown key" in str(error)


def test_a_missing_key_points_at_its_table_in_an_array_of_tables() -> None:
    text = PACKAGED.read_text()
    third = '[[rules.limits]]\ncode = "amount_limit"\nfeature = "amount"\nmax = 50000\n'
    assert third in text
    broken = text.replace(third, '[[rules.limits]]\ncode = "amount_limit"\nfeature = "amount"\n')
    error = error_of(broken)
    assert error.problems[0].path == "rules.limits[2].max"
    assert error.line == line_number(broken, 'code = "amount_limit"') - 1


def test_a_bad_value_deep_in_an_array_of_tables_names_its_line() -> None:
    text = PACKAGED.read_text().replace("usual_divisor = 30\n", "usual_divisor = -30\n")
    error = error_of(text)
    assert error.problems[0].path == "rules.limits[1].usual_divisor"
    assert error.line == line_number(text, "usual_divisor = -30")


def test_toml_syntax_errors_name_their_line() -> None:
    error = error_of("[thresholds]\nfraud_review = 0.9\nfraud_decline 0.95\n")
    assert error.line == 3
    assert "not valid TOML" in str(error)


def test_an_unknown_tier_is_named_on_its_line() -> None:
    text = PACKAGED.read_text().replace('tiers = ["potential", "mass"]', 'tiers = ["gold"]')
    error = error_of(text)
    assert error.problems[0].path == "rules.limits[3].tiers"
    assert error.line == line_number(text, 'tiers = ["gold"]')
    assert "unknown tier; known: mass, potential, vip" in str(error)


def test_a_detail_template_may_not_reach_into_objects() -> None:
    text = PACKAGED.read_text().replace(
        'detail = "device used by {value:g} customers in 1 day"',
        'detail = "{value.__class__}"',
    )
    error = error_of(text)
    assert error.line == line_number(text, "{value.__class__}")
    assert "a template may use" in str(error)


def test_a_template_using_usual_needs_its_feature() -> None:
    text = "[[rules.limits]]\ncode='x'\nfeature='amount'\nmax=1\noutcome='review'\n" + (
        "detail = '{usual}'\n"
    )
    assert "usual_feature is not set" in str(error_of(text))


def test_every_problem_is_reported_in_line_order() -> None:
    text = "[thresholds]\nfraud_review = 2\n[marketing]\nmax_per_window = 0\nbogus = 1\n"
    error = error_of(text)
    assert [p.line for p in error.problems] == [2, 4, 5]
    assert error.to_dict()["problems"][0] == {
        "line": 2,
        "path": "thresholds.fraud_review",
        "problem": "Input should be less than or equal to 1",
    }


def test_a_policy_error_is_a_verdict_error_with_a_status() -> None:
    error = error_of("[thresholds]\nfraud_review = 2\n")
    assert isinstance(error, VerdictError)
    assert error.http_status == 422
    assert error.to_dict()["error"] == "invalid_policy"


def test_a_file_that_cannot_be_read_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")


def test_duplicate_lists_and_offers_are_refused() -> None:
    text = (
        "[[rules.lists]]\nname='a'\nfield='customer_id'\noutcome='decline'\n"
        "[[rules.lists]]\nname='a'\nfield='device_id'\noutcome='review'\n"
        "[triggers.travel_offer]\noffers = ['x', 'x']\n"
    )
    error = error_of(text)
    assert [(p.line, p.path) for p in error.problems] == [
        (6, "rules.lists[1].name"),
        (10, "triggers.travel_offer.offers"),
    ]


def test_key_lines_follows_dotted_quoted_and_nested_keys() -> None:
    text = (
        "top = 1\n"
        "[a]\n"
        "b.c = 2\n"
        '"quoted.key" = 3\n'
        'text = """\n'
        "x = not a key\n"
        '"""\n'
        "[[arr]]\n"
        "v = 1\n"
        "[[arr.sub]]\n"
        "w = 2\n"
        "[[arr]]\n"
        "[[arr.sub]]\n"
        "w = 3\n"
    )
    lines = key_lines(text)
    assert lines[("top",)] == 1
    assert lines[("a", "b", "c")] == 3
    assert lines[("a", "quoted.key")] == 4
    assert ("a", "x") not in lines
    assert lines[("arr", 0, "v")] == 9
    assert lines[("arr", 0, "sub", 0, "w")] == 11
    assert lines[("arr", 1, "sub", 0, "w")] == 14
    assert line_of(("arr", 1, "sub", 0, "missing"), lines) == 13
    assert line_of(("nowhere",), lines) is None


@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_thresholds_validate_exactly_when_ordered(values: list[float]) -> None:
    challenge, review, decline = values
    ordered = challenge <= review <= decline
    try:
        Thresholds(fraud_challenge=challenge, fraud_review=review, fraud_decline=decline)
    except ValidationError:
        assert not ordered
    else:
        assert ordered

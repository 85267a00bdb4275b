"""The marketing rules on lists of events in event time: consent, caps and every suppression."""

from __future__ import annotations

from decisions.caps import InMemoryCapStore
from decisions.policy import MarketingPolicy, Policy
from decisions.policy_file import load_policy
from decisions.sources import Scores
from events.records import Transaction
from tests.unit.decisions.harness import DAY, HOUR, T0, bench, held, medical, salary, tx

DEFAULT = load_policy()
FOREIGN = {"cust_foreign": 1.0, "cust_new_country_90d": 1.0}


def with_marketing(**changes: object) -> Policy:
    return DEFAULT.model_copy(update={"marketing": DEFAULT.marketing.model_copy(update=changes)})


def trip(tx_id: str, at: float) -> Transaction:
    return tx(tx_id, at, country="JP")


def test_no_marketing_without_consent_but_service_triggers_still_go() -> None:
    b = bench()
    b.world.base["cust_marketing_consent"] = 0.0
    b.world.features_by_tx["s"] = {f"cust_net_deposit_month_{i}": 30_000.0 for i in range(3)}
    result = b.one(salary("s"))
    assert [t.code for t in result.triggers] == ["high_potential_customer"]
    assert held(result) == {"salary_wealth_offer": "no_consent"}
    assert result.decision.triggers == ["high_potential_customer"]


def test_consent_can_be_switched_off_as_a_rule() -> None:
    b = bench(with_marketing(require_consent=False))
    b.world.base["cust_marketing_consent"] = 0.0
    assert [t.code for t in b.one(salary("s")).triggers] == ["salary_wealth_offer"]


def test_no_marketing_on_a_transaction_that_is_not_approved() -> None:
    b = bench()
    b.world.scores_by_tx["m"] = Scores(fraud=0.8, anomaly=0.1)
    result = b.one(medical("m"))
    assert result.decision.outcome == "review"
    assert result.triggers == ()
    assert held(result) == {"medical_protection_offer": "not_approved"}
    assert b.count("verdict_trigger_suppressions_total", code="medical_protection_offer",
                   rule="not_approved") == 1  # fmt: skip


def test_a_decline_silences_marketing_for_seven_days_of_event_time() -> None:
    b = bench()
    b.world.scores_by_tx["fraudish"] = Scores(fraud=0.95, anomaly=0.5)
    results = b.run(
        [
            tx("fraudish", T0),
            salary("s1", T0 + 6 * DAY + 23 * HOUR),
            medical("m1", T0 + 6 * DAY + 23 * HOUR + 60),
            salary("s2", T0 + 7 * DAY),
        ]
    )
    assert results[0].decision.outcome == "decline"
    assert held(results[1]) == {"salary_wealth_offer": "quiet_after_decline"}
    assert held(results[2]) == {"medical_protection_offer": "quiet_after_decline"}
    assert [t.code for t in results[3].triggers] == ["salary_wealth_offer"]


def test_a_confirmed_fraud_silences_marketing_for_seven_days() -> None:
    b = bench()
    b.engine.note_fraud("c1", T0, ref="label-tx-9")
    early = b.one(salary("s1", T0 + 3 * DAY))
    late = b.one(salary("s2", T0 + 7 * DAY + 1))
    assert held(early) == {"salary_wealth_offer": "quiet_after_fraud"}
    assert [t.code for t in late.triggers] == ["salary_wealth_offer"]


def test_a_recent_confirmed_fraud_in_the_features_silences_marketing() -> None:
    b = bench()
    b.world.features_by_tx["s"] = {"cust_fraud_confirmed_7d": 1.0}
    assert held(b.one(salary("s"))) == {"salary_wealth_offer": "quiet_after_fraud"}


def test_the_same_offer_code_at_most_once_in_thirty_days() -> None:
    b = bench()
    results = b.run(
        [
            salary("s1", T0),
            salary("s2", T0 + 29 * DAY),
            medical("m1", T0 + 29 * DAY + 60),
            salary("s3", T0 + 30 * DAY),
        ]
    )
    assert [t.code for t in results[0].triggers] == ["salary_wealth_offer"]
    assert held(results[1]) == {"salary_wealth_offer": "offer_cap"}
    assert [t.code for t in results[2].triggers] == ["medical_protection_offer"]  # another code
    assert [t.code for t in results[3].triggers] == ["salary_wealth_offer"]


def test_at_most_three_marketing_triggers_in_seven_days() -> None:
    # three marketing codes exist and each may go once in 30 days: to reach a fourth trigger
    # inside a week the offer cooldown is shortened to one day
    b = bench(with_marketing(offer_cooldown_days=1))
    b.world.features_by_tx["trip"] = FOREIGN
    results = b.run(
        [
            salary("s1", T0),
            medical("m1", T0 + DAY),
            trip("trip", T0 + 2 * DAY),
            salary("s2", T0 + 6 * DAY),  # the fourth in (T0 - 1 d, T0 + 6 d]
            salary("s3", T0 + 7 * DAY),  # s1 has left the window (T0, T0 + 7 d]
        ]
    )
    assert [len(r.triggers) for r in results[:3]] == [1, 1, 1]
    assert held(results[3]) == {"salary_wealth_offer": "window_cap"}
    assert [t.code for t in results[4].triggers] == ["salary_wealth_offer"]
    assert b.count("verdict_trigger_suppressions_total", code="salary_wealth_offer",
                   rule="window_cap") == 1  # fmt: skip


def test_the_weekly_cap_counts_what_fires_on_one_transaction_together() -> None:
    policy = with_marketing(max_per_window=1)
    b = bench(policy)
    b.world.features_by_tx["m"] = FOREIGN
    result = b.one(medical("m", country="JP"))
    assert [t.code for t in result.triggers] == ["medical_protection_offer"]
    assert held(result) == {"travel_offer": "window_cap"}


def test_a_redelivered_transaction_gets_the_same_triggers_and_counts_once() -> None:
    b = bench()
    first = b.one(salary("s", T0))
    again = b.one(salary("s", T0))
    assert [t.trigger_id for t in again.triggers] == [t.trigger_id for t in first.triggers]
    b.world.features_by_tx["trip"] = FOREIGN
    b.one(medical("m", T0 + 60))
    assert [t.code for t in b.one(trip("trip", T0 + 120)).triggers] == ["travel_offer"]


def test_service_triggers_have_their_own_cooldown_and_no_marketing_rules() -> None:
    b = bench()
    rich = {f"cust_net_deposit_month_{i}": 30_000.0 for i in range(3)}
    b.world.base.update(rich)
    b.world.base["cust_marketing_consent"] = 0.0
    results = b.run([tx("a", T0), tx("b", T0 + 89 * DAY), tx("c", T0 + 90 * DAY)])
    assert [t.code for t in results[0].triggers] == ["high_potential_customer"]
    assert held(results[1]) == {"high_potential_customer": "cooldown"}
    assert [t.code for t in results[2].triggers] == ["high_potential_customer"]


def test_every_rule_can_be_switched_off() -> None:
    policy = with_marketing(
        require_consent=False,
        approved_only=False,
        quiet_days_after_decline=0,
        quiet_days_after_fraud=0,
        offer_cooldown_days=0,
        window_days=0,
    )
    b = bench(policy)
    b.world.base["cust_marketing_consent"] = 0.0
    b.world.base["cust_fraud_confirmed_7d"] = 1.0
    b.world.scores_by_tx["x"] = Scores(fraud=0.99, anomaly=0.1)
    b.engine.note_fraud("c1", T0, "f1")
    results = b.run([tx("x", T0)] + [salary(f"s{i}", T0 + i * HOUR) for i in range(1, 6)])
    assert all(len(r.triggers) == 1 for r in results[1:])


def test_the_same_events_give_the_same_answers_on_replay() -> None:
    def story() -> list[tuple[str, list[str], dict[str, str]]]:
        b = bench()
        b.world.scores_by_tx["bad"] = Scores(fraud=0.95, anomaly=0.2)
        b.world.features_by_tx["trip"] = FOREIGN
        events = [
            salary("s1", T0),
            medical("m1", T0 + HOUR),
            tx("bad", T0 + DAY),
            trip("trip", T0 + 2 * DAY),
            salary("s2", T0 + 8 * DAY),
            salary("s3", T0 + 31 * DAY),
        ]
        return [
            (r.decision.outcome, [t.trigger_id for t in r.triggers], held(r)) for r in b.run(events)
        ]

    assert story() == story()


def test_a_late_event_cannot_slip_a_second_offer_into_the_cooldown() -> None:
    b = bench()
    assert len(b.one(salary("s-now", T0 + 20 * DAY)).triggers) == 1
    late = b.one(salary("s-late", T0))  # arrives after, happened 20 days before
    assert held(late) == {"salary_wealth_offer": "offer_cap"}


def test_caps_are_shared_by_engines_on_the_same_store() -> None:
    shared = InMemoryCapStore()
    one, two = bench(caps=shared), bench(caps=shared)
    assert len(one.one(salary("s1", T0)).triggers) == 1
    assert held(two.one(salary("s2", T0 + DAY))) == {"salary_wealth_offer": "offer_cap"}


def test_the_policy_marketing_section_defaults_to_the_design() -> None:
    rules = MarketingPolicy()
    assert (rules.require_consent, rules.approved_only) == (True, True)
    assert (rules.quiet_days_after_decline, rules.quiet_days_after_fraud) == (7.0, 7.0)
    assert (rules.offer_cooldown_days, rules.window_days, rules.max_per_window) == (30.0, 7.0, 3)
    assert DEFAULT.marketing == rules

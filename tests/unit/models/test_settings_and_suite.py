"""Model settings, the suite built from them, champion/challenger comparison."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.anomaly import AnomalyModel
from models.fraud import FraudModel
from models.propensity import policy_from_settings
from models.settings import ModelSettings
from models.shadow import ChallengerTrial
from models.suite import PREFIX, ModelSuite
from tests.unit.models.catalogue import labelled_stream
from verdict.settings import Settings


def test_settings_are_frozen_described_and_strict() -> None:
    settings = ModelSettings()
    for name, field in ModelSettings.model_fields.items():
        assert field.description, name
    with pytest.raises(ValidationError):
        ModelSettings(no_such_setting=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        settings.fraud_learner = "hat"  # type: ignore[misc]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERDICT_MODELS__FRAUD_LEARNER", "hat")
    monkeypatch.setenv("VERDICT_MODELS__LABEL_FEED", "chargebacks")
    settings = Settings().models
    assert (settings.fraud_learner, settings.label_feed) == ("hat", "chargebacks")


def test_suite_from_settings_and_its_anomaly_features() -> None:
    settings = ModelSettings(anomaly_trees=3, anomaly_height=3, anomaly_window=10, attributions=2)
    suite = ModelSuite.from_settings(settings)
    assert suite.fraud.learner == "ftrl"
    assert ModelSuite.from_settings(settings, learner="logistic").fraud.learner == "logistic"
    stream = labelled_stream(400, seed=2)
    for x, y in stream:
        scores = suite.decide(x, explain=True)
        suite.learn_one(x, y)
    assert 0.0 <= scores.fraud_score <= 1.0
    assert len(scores.reasons) <= 2
    augmented = suite.augment(stream[0][0])
    assert {PREFIX + "score", PREFIX + "half_space_trees"} <= augmented.keys()
    fraud, anomaly = suite.decide_many([x for x, _ in stream[:5]])
    assert fraud.shape == anomaly.shape == (5,)
    plain = ModelSuite(AnomalyModel(seed=1), FraudModel(), stack=False)
    assert plain.augment({"amount": 1.0}) == {"amount": 1.0}


def test_policy_from_settings() -> None:
    policy = policy_from_settings(ModelSettings(), ["a", "b"])
    assert policy.variants == ["a", "b"]


def test_challenger_trial_records_both_models_before_they_learn() -> None:
    trial = ChallengerTrial(FraudModel("ftrl"), FraudModel("ftrl", calibrator="none"), window=50)
    for x, y in labelled_stream(300, seed=4):
        trial.learn_one(x, y)
    report = trial.report()
    assert report["labels"] == 300
    for side in ("champion", "challenger"):
        assert 0.0 < report[side]["log_loss"] < 1.0
        assert 0.0 <= report[side]["brier"] <= 1.0
        assert 0.0 <= report[side]["roc_auc"] <= 1.0

"""Model settings (section ``models``: ``VERDICT_MODELS__<NAME>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DAY_S = 86_400


class ModelSettings(BaseModel):
    """The three models (anomaly, fraud, propensity), how labels teach them, the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # anomaly
    anomaly_trees: int = Field(
        10, ge=1, le=200, description="Half-space trees of the anomaly model."
    )
    anomaly_height: int = Field(8, ge=1, le=20, description="Height of each half-space tree.")
    anomaly_window: int = Field(
        250, ge=10, description="Events per window of the trees (reference mass = last window)."
    )
    anomaly_seed: int = Field(42, ge=0, description="Seed of the trees' random splits.")
    # fraud
    fraud_learner: Literal["ftrl", "logistic", "hat", "arf"] = Field(
        "ftrl", description="Learner of the fraud model (ftrl is ours, the others river's)."
    )
    fraud_calibrator: Literal["platt", "isotonic", "none"] = Field(
        "platt", description="Online calibrator that turns the learner's score into fraud_score."
    )
    fraud_class_weight: Literal["balanced"] | float = Field(
        3.0, description="Weight of a fraud label: a number, or 'balanced' (running ratio)."
    )
    fraud_max_positive_weight: float = Field(
        20.0, ge=1.0, description="Cap of a fraud label's weight under 'balanced'."
    )
    fraud_seed: int = Field(7, ge=0, description="Seed of learners that draw at random (trees).")
    attributions: int = Field(
        3, ge=0, le=20, description="Features named as the reasons of a fraud score."
    )
    label_feed: Literal["explicit", "chargebacks"] = Field(
        "explicit",
        description="explicit: a label for every transaction; chargebacks: fraud labels only.",
    )
    label_horizon_s: int = Field(
        30 * DAY_S,
        ge=3600,
        description="chargebacks feed: a transaction with no fraud label after this is legitimate.",
    )
    # propensity
    propensity_prior_accept: float = Field(
        0.05, gt=0.0, lt=1.0, description="Prior acceptance rate of an offer variant never tried."
    )
    propensity_prior_precision: float = Field(
        1.0,
        gt=0.0,
        description="Prior precision of each weight of a variant's model (lower explores more).",
    )
    propensity_seed: int = Field(11, ge=0, description="Seed of the Thompson sampler's draws.")
    # registry
    registry_prefix: str = Field(
        "verdict:model", min_length=1, description="Prefix of the registry's Redis keys."
    )
    publish_every_labels: int = Field(
        1000, ge=1, description="The learner publishes a new version after this many labels..."
    )
    publish_every_s: float = Field(
        60.0, gt=0.0, description="...or this many seconds after the last one, if it learnt."
    )
    reload_check_s: float = Field(
        1.0, gt=0.0, description="At most this often a scorer looks for a new version."
    )
    keep_versions: int = Field(5, ge=1, description="Versions kept in Redis per role.")
    challenger: Literal["ftrl", "logistic", "hat", "arf"] | None = Field(
        None, description="Fraud learner scored in shadow beside the champion (none: no shadow)."
    )

"""Online models: anomaly, fraud and offer propensity; numba kernels; the model registry.

Every model follows one small contract (:class:`~models.base.OnlineModel`: ``score_one``,
``learn_one``, ``score_many``, ``learn_many``, ``clone``) and keeps learning while the engine
runs. Modules, by what they hold:

- :mod:`models.base`: the contract and the growable feature index of the numba models;
- :mod:`models.hst` (+ ``hst_kernels``): Half-Space Trees, river's algorithm, compiled;
- :mod:`models.anomaly` (+ ``anomaly_kernels``): trees + per-customer behaviour -> anomaly_score;
- :mod:`models.ftrl` (+ ``ftrl_kernels``): FTRL-proximal logistic regression, the fraud learner;
- :mod:`models.river_models`: river's classifiers as fraud candidates;
- :mod:`models.fraud`: learner + calibrator + attributions -> fraud_score and its reasons;
- :mod:`models.calibration`, :mod:`models.imbalance`: online calibrators, class weights;
- :mod:`models.suite`: the models of one decision (anomaly feeding fraud);
- :mod:`models.labels`: late labels (explicit or chargebacks only) teaching the fraud model;
- :mod:`models.propensity`: Bayesian logistic per offer variant, Thompson sampling;
- :mod:`models.registry`, :mod:`models.shadow`: versions in Redis, champion and challenger;
- :mod:`models.evaluation`: the fraud handbook's quality metrics;
- :mod:`models.settings`: the ``models`` settings section.
"""

"""The model contract: ``score_one`` / ``learn_one`` / ``score_many`` / ``learn_many`` / ``clone``.

Every model of Verdict (anomaly, fraud, propensity) is an :class:`OnlineModel`. Features are a
mapping of name to number; a feature may appear or disappear from one transaction to the next.
Models compiled with numba see features as columns of a float array: :class:`FeatureIndex` maps
names to columns, grows when a new name arrives and pickles with the model.

>>> index = FeatureIndex(["amount", "is_night"])
>>> index.row({"is_night": 1.0, "amount": 12.5, "new": 3.0}).tolist()
[12.5, 1.0]
>>> index.add("new"), index.row({"new": 3.0}).tolist()
(2, [nan, nan, 3.0])
"""

from __future__ import annotations

import abc
import copy
import inspect
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, Self

import numpy as np
import numpy.typing as npt

#: Features of one event: name -> value. Missing names are missing features, not zeros.
Features = Mapping[str, float]
#: A float64 array (scores, rows, matrices).
FloatArray = npt.NDArray[np.float64]


class OnlineModel(abc.ABC):
    """A model that scores and keeps learning, one event (or one batch) at a time.

    Scores lie in [0, 1]; higher means more of what the model looks for (fraud, anomaly,
    acceptance). Unsupervised models ignore ``y``; supervised ones need it. Parameters given to
    ``__init__`` are kept as attributes of the same name, so :meth:`clone` (like river's) can
    build a fresh, untrained copy.
    """

    #: Whether :meth:`learn_one` needs a label.
    supervised: bool = False

    @abc.abstractmethod
    def score_one(self, x: Features) -> float:
        """The score of one event, in [0, 1]; never changes the model."""

    @abc.abstractmethod
    def learn_one(self, x: Features, y: bool | None = None) -> None:
        """Learn from one event (and its label, for supervised models)."""

    def score_many(self, xs: Sequence[Features]) -> FloatArray:
        """The scores of a batch, as :meth:`score_one` would give them one by one."""
        return np.fromiter((self.score_one(x) for x in xs), dtype=np.float64, count=len(xs))

    def learn_many(self, xs: Sequence[Features], ys: Sequence[bool] | None = None) -> None:
        """Learn from a batch in order, as :meth:`learn_one` would one by one."""
        if ys is None:
            for x in xs:
                self.learn_one(x)
            return
        if len(ys) != len(xs):
            raise ValueError(f"{len(xs)} events but {len(ys)} labels")
        for x, y in zip(xs, ys, strict=True):
            self.learn_one(x, y)

    def params(self) -> dict[str, Any]:
        """The ``__init__`` parameters of this model, read from attributes of the same name."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: copy.deepcopy(getattr(self, name))
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
        }

    def clone(self, **overrides: Any) -> Self:
        """A fresh, untrained model with the same parameters (some of them overridden)."""
        return type(self)(**(self.params() | overrides))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self.params().items())
        return f"{type(self).__name__}({inner})"


def check_label(model: OnlineModel, y: bool | None) -> bool:
    """``y`` as a bool, or a clear error when a supervised model gets no label."""
    if y is None:
        raise ValueError(f"{type(model).__name__} is supervised: learn_one needs a label")
    return bool(y)


class FeatureIndex:
    """Feature name -> column, for models that work on float arrays.

    A missing feature is NaN in its column; a name the index does not hold is ignored by
    :meth:`row` and :meth:`matrix` until :meth:`add` (or :meth:`learn`) gives it a column. The
    common case, every event carrying the same names, takes one ``itemgetter`` call per event.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self.columns: dict[str, int] = {}
        self._getter: Callable[[Features], Any] | None = None
        for name in names:
            self.add(name)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def add(self, name: str) -> int:
        """The column of ``name``, given a new one at the end when it has none yet."""
        column = self.columns.get(name)
        if column is None:
            column = len(self.names)
            self.names.append(name)
            self.columns[name] = column
            self._getter = None
        return column

    def learn(self, x: Features) -> bool:
        """Give every new name of ``x`` a column; whether any was added."""
        before = len(self.names)
        for name in x:
            if name not in self.columns:
                self.add(name)
        return len(self.names) != before

    def _values(self, x: Features) -> tuple[float, ...]:
        getter = self._getter
        if getter is None:
            getter = self._getter = _make_getter(self.names)
        try:
            values: tuple[float, ...] = getter(x)
        except KeyError:
            get = x.get
            return tuple(get(name, math.nan) for name in self.names)
        return values

    def row(self, x: Features) -> FloatArray:
        """The values of ``x`` in column order, NaN where a feature is missing."""
        return np.fromiter(self._values(x), dtype=np.float64, count=len(self.names))

    def matrix(self, xs: Sequence[Features]) -> FloatArray:
        """A (len(xs), len(self)) matrix of :meth:`row` of each event."""
        width = len(self.names)
        flat = np.fromiter(
            chain.from_iterable(map(self._values, xs)), dtype=np.float64, count=len(xs) * width
        )
        return flat.reshape(len(xs), width)

    def __getstate__(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["names"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"FeatureIndex({self.names!r})"


def _make_getter(names: Sequence[str]) -> Callable[[Features], tuple[float, ...]]:
    if not names:
        return lambda _x: ()
    if len(names) == 1:
        only = names[0]
        return lambda x: (x[only],)
    return operator.itemgetter(*names)

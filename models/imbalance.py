"""Class weights for rare positives (fraud is well under 1 % of transactions).

``"balanced"`` weighs each positive by the running ratio of negatives to positives (capped),
so that both classes carry the same total weight, as scikit-learn's ``class_weight="balanced"``
does on a batch; a number fixes the positives' weight.

>>> weights = ClassWeights("balanced", cap=50.0)
>>> for y in [False] * 99 + [True]:
...     weights.update(y)
>>> weights.weight(True), weights.weight(False)
(50.0, 1.0)
>>> ClassWeights(5.0).weight(True)
5.0
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

ClassWeight = Literal["balanced"] | float


class ClassWeights:
    """The sample weight of a positive and of a negative label, learnt from the labels seen.

    Parameters
    ----------
    class_weight
        ``"balanced"`` or the fixed weight of a positive (negatives weigh 1).
    cap
        Largest weight a positive gets under ``"balanced"``.
    """

    def __init__(self, class_weight: ClassWeight = "balanced", cap: float = 50.0) -> None:
        if class_weight != "balanced" and float(class_weight) <= 0:
            raise ValueError("a fixed class weight must be positive")
        self.class_weight = class_weight
        self.cap = cap
        self.positives = 0
        self.negatives = 0

    def update(self, y: bool) -> None:
        """Count one more label."""
        if y:
            self.positives += 1
        else:
            self.negatives += 1

    def weigh_all(self, ys: Iterable[bool]) -> list[float]:
        """:meth:`weight` then :meth:`update` of each label in turn: their weights, in order.

        >>> weights = ClassWeights()
        >>> weights.weigh_all([False, True, False, True])
        [1.0, 2.0, 1.0, 1.5]
        """
        fixed = None if self.class_weight == "balanced" else float(self.class_weight)
        positives, negatives, cap = self.positives, self.negatives, self.cap
        out: list[float] = []
        for y in ys:
            if not y:
                out.append(1.0)
                negatives += 1
            elif fixed is not None:
                out.append(fixed)
                positives += 1
            else:
                out.append(_balanced(positives, negatives, cap))
                positives += 1
        self.positives, self.negatives = positives, negatives
        return out

    def weight(self, y: bool) -> float:
        """The sample weight of a label ``y`` now."""
        if not y:
            return 1.0
        if self.class_weight != "balanced":
            return float(self.class_weight)
        return _balanced(self.positives, self.negatives, self.cap)


def _balanced(positives: int, negatives: int, cap: float) -> float:
    """A positive's weight under ``"balanced"``: the negatives per positive seen, 1 to ``cap``."""
    return min(max((negatives + 1) / (positives + 1), 1.0), cap)

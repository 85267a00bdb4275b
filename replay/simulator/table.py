"""Transactions as columns of small integer codes, and the vocabularies the codes point into.

Holding every field as a numpy column keeps the generation vectorised; the strings of the
contract only appear when a chunk of rows is written (:mod:`replay.simulator.writer`). A code
of ``-1`` means the field is absent.

>>> names = Names()
>>> names.serial("t", 3, width=5), names.serial("t", 2, width=5)
(0, 3)
>>> names.lookup()[[0, 4, -1]].tolist()
['t00000', 't00004', None]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from events.iso import COUNTRIES

DIRECTIONS: Final = ("debit", "credit")
TX_TYPES: Final = ("card", "transfer", "cash", "bill")
CHANNELS: Final = ("pos", "ecom", "atm", "mobile", "branch")
PURPOSES: Final = ("SALA",)
#: ``own`` (this bank) first, then other banks' BICs.
BANKS: Final = (
    "own",
    "DEUTDEFFXXX",
    "COBADEFFXXX",
    "BNPAFRPPXXX",
    "INGBNL2AXXX",
    "ABNANL2AXXX",
    "GEBABEBBXXX",
    "KREDBEBBXXX",
    "BBRUBEBBXXX",
    "BARCGB22XXX",
    "CITIUS33XXX",
)
#: Everyday card merchants and how common each is among terminals.
RETAIL_MCCS: Final = {
    "5411": 0.30,  # grocery stores, supermarkets
    "5812": 0.12,  # restaurants
    "5814": 0.10,  # fast food
    "5541": 0.08,  # service stations
    "5912": 0.07,  # pharmacies
    "5311": 0.06,  # department stores
    "5651": 0.06,  # family clothing
    "5732": 0.04,  # electronics
    "5942": 0.04,  # book stores
    "4121": 0.04,  # taxis
    "5999": 0.09,  # miscellaneous retail
}
#: Online merchants that fraudsters favour (easy to resell).
ONLINE_RISKY_MCCS: Final = ("5732", "5944", "5045", "4722", "5691", "5999")
HOSPITAL_MCC: Final = "8062"
MCCS: Final = tuple(dict.fromkeys([*RETAIL_MCCS, *ONLINE_RISKY_MCCS, HOSPITAL_MCC]))
COUNTRY_CODES: Final = tuple(sorted(COUNTRIES))
#: Where customers travel to and where fraudsters connect from (the home country is skipped).
DESTINATIONS: Final = (
    "FR", "ES", "IT", "PT", "GR", "DE", "NL", "GB", "AT", "HR", "CH", "TR", "MA", "US", "TH",
)  # fmt: skip

DEBIT, CREDIT = 0, 1
CARD, TRANSFER = 0, 1
POS, ECOM, MOBILE, BRANCH = 0, 1, 3, 4
SALA = 0
OWN_BANK = 0


def code_of(vocabulary: tuple[str, ...], value: str) -> int:
    """The code of ``value`` in ``vocabulary``."""
    return vocabulary.index(value)


def lookup(vocabulary: tuple[str, ...] | list[str]) -> NDArray[np.object_]:
    """``vocabulary`` as an object array whose index ``-1`` is ``None`` (an absent field)."""
    table = np.empty(len(vocabulary) + 1, dtype=object)
    table[: len(vocabulary)] = list(vocabulary)
    table[-1] = None
    return table


class Names:
    """The identifiers of things other than customers: terminals, merchants, devices, IPs...

    Each kind of thing is numbered in its own series (``t00000``, ``t00001``...), so an
    identifier says what it is but never which scenario made it.
    """

    def __init__(self) -> None:
        self._names: list[str] = []
        self._next: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._names)

    def add(self, names: list[str]) -> int:
        """Append ``names`` and return the code of the first one."""
        offset = len(self._names)
        self._names.extend(names)
        return offset

    def serial(self, prefix: str, count: int, *, width: int = 6) -> int:
        """Append the next ``count`` names of the series ``prefix``; the code of the first."""
        first = self._next.get(prefix, 0)
        self._next[prefix] = first + count
        return self.add([f"{prefix}{i:0{width}d}" for i in range(first, first + count)])

    def ips(self, rng: np.random.Generator, count: int) -> int:
        """Append ``count`` random public-looking IPv4 addresses; the code of the first."""
        octets = rng.integers(1, 255, size=(count, 4))
        octets[:, 0] = rng.choice([31, 37, 46, 77, 81, 84, 91, 109, 178, 185, 188, 193], count)
        return self.add([".".join(map(str, row)) for row in octets.tolist()])

    def lookup(self) -> NDArray[np.object_]:
        """Every name as an object array whose index ``-1`` is ``None``."""
        return lookup(self._names)


@dataclass
class Transactions:
    """Transactions as columns; every column has one entry per transaction.

    ``terminal``, ``counterparty``, ``device`` and ``ip`` are codes into :class:`Names`;
    ``fraud`` and ``origin`` are codes into :data:`replay.simulator.config.SCENARIO_NAMES`
    (``fraud`` is the fraud scenario, ``origin`` the scenario that made or changed the row;
    ``-1`` is the handbook's everyday spending and, for ``fraud``, a legitimate transaction).
    """

    ts: NDArray[np.int64]
    customer: NDArray[np.int32]
    amount: NDArray[np.float64]
    direction: NDArray[np.int8]
    tx_type: NDArray[np.int8]
    channel: NDArray[np.int8]
    terminal: NDArray[np.int32]
    mcc: NDArray[np.int16]
    purpose: NDArray[np.int8]
    counterparty: NDArray[np.int32]
    bank: NDArray[np.int8]
    country: NDArray[np.int16]
    device: NDArray[np.int32]
    ip: NDArray[np.int32]
    fraud: NDArray[np.int8]
    origin: NDArray[np.int8]

    @classmethod
    def make(
        cls,
        ts: NDArray[np.int64],
        customer: NDArray[Any],
        amount: NDArray[np.float64],
        **codes: int | NDArray[Any],
    ) -> Transactions:
        """Rows with the given columns; every code not given is ``-1`` (absent).

        Parameters
        ----------
        ts, customer, amount
            Epoch seconds, customer indices and amounts, one per row.
        **codes
            Other columns by name, each an array or one code for every row.
        """
        size = len(ts)
        columns: dict[str, NDArray[Any]] = {
            "ts": np.asarray(ts, dtype=np.int64),
            "customer": np.asarray(customer, dtype=np.int32),
            "amount": np.asarray(amount, dtype=np.float64),
        }
        for column in fields(cls)[3:]:
            dtype = _DTYPES[column.name]
            value = codes.pop(column.name, -1)
            columns[column.name] = (
                np.full(size, value, dtype=dtype)
                if isinstance(value, int)
                else np.asarray(value, dtype=dtype)
            )
        if codes:
            raise TypeError(f"unknown columns: {sorted(codes)}")
        if any(len(values) != size for values in columns.values()):
            raise ValueError("every column needs one entry per transaction")
        return cls(**columns)

    @classmethod
    def empty(cls) -> Transactions:
        """No rows."""
        none = np.zeros(0)
        return cls.make(none.astype(np.int64), none.astype(np.int32), none)

    @classmethod
    def concat(cls, parts: list[Transactions]) -> Transactions:
        """The rows of every part, in order."""
        if not parts:
            return cls.empty()
        return cls(
            **{
                column.name: np.concatenate([getattr(part, column.name) for part in parts])
                for column in fields(cls)
            }
        )

    def take(self, rows: NDArray[np.intp]) -> Transactions:
        """The rows at ``rows``, in that order."""
        return Transactions(
            **{column.name: getattr(self, column.name)[rows] for column in fields(self)}
        )

    def __len__(self) -> int:
        return len(self.ts)


_DTYPES: Final[dict[str, type[np.generic]]] = {
    "direction": np.int8,
    "tx_type": np.int8,
    "channel": np.int8,
    "terminal": np.int32,
    "mcc": np.int16,
    "purpose": np.int8,
    "counterparty": np.int32,
    "bank": np.int8,
    "country": np.int16,
    "device": np.int32,
    "ip": np.int32,
    "fraud": np.int8,
    "origin": np.int8,
}

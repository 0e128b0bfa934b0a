"""``readiness``: the chance an account expands within the next days, learned from the source's
own history, and the figures that made it so (``readiness_reasons``).

The model is trained by ``headroom score train`` (:mod:`headroom.readiness`) on the signals of
this catalogue, and kept in the workspace: LightGBM's own text format beside a card (JSON) that
says what it reads. Its features are computed here, by the same signals a playbook reads, in the
engine; the model then runs where its library does, over the fetched features at once (a
vectorised predict, not a loop over accounts), and its scores go back into the engine as a
table, to be read like any other signal.

A play fired on the score says why in plain words: the three figures that raised it most, from
per-feature contributions (TreeSHAP, on the model's log-odds, shared out over the calibrated
probability in proportion), e.g. "seat utilisation 93% (+0.12)". They are worked out for the
as-of day's rows only, the day plays fire on: they cost more than the score.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headroom.config import settings
from headroom.errors import ConfigError
from headroom.playbook.expressions import SignalType
from headroom.signals.registry import Context, describer, signal, signal_table
from headroom.signals.wording import figure

if TYPE_CHECKING:  # imported where a model is loaded: a run without one does not pay for it
    import lightgbm

#: Where a workspace keeps its readiness models, one folder per version.
FOLDER = Path("models") / "readiness"
#: How many figures a play's "why" names, and the least share of the score one must hold to
#: be named (a figure that moved it by under half a point says nothing to a CSM).
REASONS = 3
MIN_SHARE = 0.005
#: Between a reason's figures, and between its name, value and share.
_SEP, _EQ, _AT = ";", "=", "@"


@dataclass(frozen=True)
class Feature:
    """A signal the model reads: ``sign`` +1 when more of it can only raise readiness (a
    monotone constraint), -1 only lower it, 0 either; a text signal's ``categories`` are
    its values, coded by position (another value: missing)."""

    name: str
    sign: int = 0
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Card:
    """What a readiness model is: read by a person deciding to trust it, and by the signal."""

    version: int
    trained_on: str  # the source's name
    through: dt.date  # the last day whose data (and expansions) it saw
    horizon_days: int
    features: tuple[Feature, ...]
    #: Platt scaling of the booster's log-odds, fitted on the later slice: p = 1/(1+e^-(a m + b))
    platt: tuple[float, float]
    train_days: tuple[dt.date, dt.date]
    calibration_days: tuple[dt.date, dt.date]
    rows: int
    positives: int
    #: measured on the calibration slice (auc, average_precision, brier, calibration_error)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    trained_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["through"] = self.through.isoformat()
        out["train_days"] = [d.isoformat() for d in self.train_days]
        out["calibration_days"] = [d.isoformat() for d in self.calibration_days]
        out["features"] = [
            {"name": f.name, "sign": f.sign, "categories": list(f.categories)}
            for f in self.features
        ]
        out["platt"] = list(self.platt)
        out["metrics"] = dict(self.metrics)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Card:
        day = dt.date.fromisoformat
        return cls(
            version=int(d["version"]),
            trained_on=str(d["trained_on"]),
            through=day(d["through"]),
            horizon_days=int(d["horizon_days"]),
            features=tuple(
                Feature(f["name"], int(f["sign"]), tuple(f["categories"])) for f in d["features"]
            ),
            platt=(float(d["platt"][0]), float(d["platt"][1])),
            train_days=(day(d["train_days"][0]), day(d["train_days"][1])),
            calibration_days=(day(d["calibration_days"][0]), day(d["calibration_days"][1])),
            rows=int(d["rows"]),
            positives=int(d["positives"]),
            metrics=dict(d.get("metrics", {})),
            trained_at=str(d.get("trained_at", "")),
        )


@dataclass(frozen=True)
class Model:
    """A trained booster with its card."""

    booster: lightgbm.Booster
    card: Card

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Calibrated readiness of the feature rows ``x`` (columns in the card's order)."""
        margin = np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)
        return _sigmoid(self._scaled(margin))

    def _scaled(self, margin: np.ndarray) -> np.ndarray:
        a, b = self.card.platt
        return np.asarray(a * margin + b, dtype=np.float64)

    def reasons(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of ``x``, the features that raised its readiness most: their column index
        (-1: none) and their share of the probability over the base rate, ``REASONS`` each,
        largest first (only those that raised it by half a point or more)."""
        n = x.shape[0]
        k = min(REASONS, x.shape[1])
        if n == 0:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k))
        c = np.asarray(self.booster.predict(x, pred_contrib=True), dtype=np.float64)
        parts, bias = c[:, :-1], c[:, -1]
        # the calibrated probability over the base rate, shared out as the log-odds are: the
        # shares add up to p - p0 exactly (a local linearisation where they nearly cancel)
        p = _sigmoid(self._scaled(bias + parts.sum(axis=1)))
        p0 = _sigmoid(self._scaled(bias))
        total = parts.sum(axis=1)
        a = self.card.platt[0]
        near = np.abs(total) < 1e-9
        per = np.where(near, a * p * (1 - p), (p - p0) / np.where(near, 1.0, total))
        shares = parts * per[:, None]
        order = np.argsort(-shares, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(shares, order, axis=1)
        named = top >= MIN_SHARE
        return np.where(named, order, -1), np.where(named, top, 0.0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


# -- the workspace's models ---------------------------------------------------------------------


def folder(workspace: Path | None = None) -> Path:
    """The workspace's readiness models (``v1``, ``v2``, ...)."""
    return (workspace or settings().workspace) / FOLDER


def versions(workspace: Path | None = None) -> list[int]:
    """The versions kept, oldest first."""
    root = folder(workspace)
    if not root.is_dir():
        return []
    found = [p.name[1:] for p in root.iterdir() if p.name.startswith("v") and p.is_dir()]
    return sorted(int(v) for v in found if v.isdigit() and (root / f"v{v}" / "card.json").exists())


def save(booster: lightgbm.Booster, card: Card, workspace: Path | None = None) -> Card:
    """Keep a model as the next free version, and give back its card so numbered.

    The version's folder is claimed by creating it (two trainings at once get two versions),
    and the card is written last: a version with a card is whole, and a training killed
    mid-way leaves a folder :func:`versions` does not list.
    """
    root = folder(workspace)
    root.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in root.iterdir()}
    version = max([int(n[1:]) for n in taken if n[1:].isdigit()] + [0]) + 1
    while True:
        target = root / f"v{version}"
        try:
            target.mkdir()
            break
        except FileExistsError:
            version += 1
    card = dataclasses.replace(card, version=version)
    booster.save_model(str(target / "model.txt"))
    tmp = target / "card.json.tmp"
    tmp.write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(target / "card.json")
    return card


def load(version: int | None = None, workspace: Path | None = None) -> Model:
    """A kept model (the latest without ``version``)."""
    kept = versions(workspace)
    if not kept:
        raise ConfigError(
            "there is no readiness model in the workspace",
            fix="train one: headroom score train SOURCE --through DAY",
        )
    v = kept[-1] if version is None else version
    if v not in kept:
        raise ConfigError(
            f"there is no readiness model version {v} (kept: {', '.join(map(str, kept))})",
            fix="name a kept version, or train one: headroom score train SOURCE --through DAY",
        )
    target = folder(workspace) / f"v{v}"
    import lightgbm

    try:
        card = Card.from_dict(json.loads((target / "card.json").read_text(encoding="utf-8")))
        booster = lightgbm.Booster(model_file=str(target / "model.txt"))
    except (OSError, ValueError, LookupError, TypeError, lightgbm.basic.LightGBMError) as e:
        raise ConfigError(
            f"the readiness model v{v} cannot be read ({type(e).__name__}: {e})",
            fix="train it again: headroom score train SOURCE --through DAY",
        ) from None
    return Model(booster, card)


#: A model handed in by the caller (an evaluation's, trained in memory) in place of the
#: workspace's latest.
_USING: contextvars.ContextVar[Model | None] = contextvars.ContextVar("readiness", default=None)


@contextlib.contextmanager
def using(model: Model) -> Iterator[None]:
    """Score with ``model`` within the block, not with the workspace's latest."""
    token = _USING.set(model)
    try:
        yield
    finally:
        _USING.reset(token)


def current() -> Model:
    """The model the signal scores with: the one handed to :func:`using`, else the latest."""
    return _USING.get() or load()


# -- features ------------------------------------------------------------------------------------


def feature_table(ctx: Context, features: Sequence[Feature], also: Sequence[str] = ()) -> ir.Table:
    """Per account and spine day of ``ctx``: one float column per feature, by its signal's
    name (a text signal coded by its categories' order; missing: null), and the signals
    ``also`` as they are."""
    t = signal_table(ctx, {f.name for f in features} | set(also))
    cols: dict[str, ir.Value] = {}
    for f in features:
        col = t[f.name]
        if f.categories:
            coded = [(col == value, float(i)) for i, value in enumerate(f.categories)]
            cols[f.name] = ibis.cases(*coded, else_=ibis.null("float64"))
        else:
            cols[f.name] = col.cast("float64")
    return t.select("account_id", "day", *also, **cols)


def matrix(rows: pa.Table, features: Sequence[Feature]) -> np.ndarray:
    """The fetched feature columns as one float matrix, missing values NaN (what LightGBM
    takes for missing)."""
    if not features:
        return np.zeros((rows.num_rows, 0))
    columns = [
        pc.fill_null(rows.column(f.name).cast(pa.float64()), math.nan).to_numpy() for f in features
    ]
    return np.column_stack(columns).astype(np.float64, copy=False)


# -- the signal ----------------------------------------------------------------------------------


def _scores(ctx: Context) -> ir.Table:
    model = current()
    feats = model.card.features
    fetched = feature_table(ctx, feats).to_pyarrow()
    x = matrix(fetched, feats)
    p = model.probability(x)
    today = pc.equal(fetched.column("day"), pa.scalar(ctx.as_of, pa.date32())).to_numpy(
        zero_copy_only=False
    )
    index = np.full((x.shape[0], REASONS), -1, dtype=np.int64)
    share = np.zeros((x.shape[0], REASONS))
    if today.any():
        i, s = model.reasons(x[today])
        index[today, : i.shape[1]], share[today, : s.shape[1]] = i, s
    out: dict[str, Any] = {
        "account_id": fetched.column("account_id"),
        "day": fetched.column("day"),
        "readiness": pa.array(p, pa.float64()),
    }
    for k in range(REASONS):
        picked = index[:, k]
        rows = np.arange(x.shape[0])
        value = np.where(picked >= 0, x[rows, np.maximum(picked, 0)], np.nan) if feats else picked
        out[f"_r{k}"] = pa.array(picked, pa.int64())
        out[f"_v{k}"] = pa.array(value, pa.float64(), mask=np.isnan(value))
        out[f"_s{k}"] = pa.array(share[:, k], pa.float64())
    name = f"headroom_readiness_{ctx.as_of:%Y%m%d}_{id(ctx)}"
    t = ctx.source.small_table(name, ibis.memtable(pa.table(out)))
    return t.select("account_id", "day", "readiness", readiness_reasons=_reason_text(t, feats))


def _reason_text(t: ir.Table, feats: Sequence[Feature]) -> ir.StringValue:
    """``name=value@share;...``: written in the engine from the picked columns (the words are
    put on when a play is read: :func:`reasons_words`)."""
    parts: list[ir.StringValue] = []
    for k in range(REASONS):
        which, v = t[f"_r{k}"], t[f"_v{k}"]
        named = ibis.cases(*[(which == i, f.name) for i, f in enumerate(feats)], else_=None)
        shown = [(which == i, _shown(v, f)) for i, f in enumerate(feats)]
        value = ibis.cases(*shown, else_=None).fill_null("")
        share = t[f"_s{k}"].round(4).cast("string")
        part = named + _EQ + value + _AT + share
        parts.append(ibis.ifelse(which >= 0, part, ibis.null("string")))
    text = parts[0].fill_null("")
    for p in parts[1:]:
        text = ibis.ifelse(p.isnull(), text, text + _SEP + p)
    result: ir.StringValue = text.nullif("")
    return result


def _shown(value: ir.FloatingValue, f: Feature) -> ir.StringValue:
    """A feature's value as the reasons carry it: a number, or a text signal's own value."""
    if not f.categories:
        return value.cast("string")
    named = [(value == float(i), c) for i, c in enumerate(f.categories)]
    result: ir.StringValue = ibis.cases(*named, else_=None)
    return result


def reasons_words(code: str | None) -> str | None:
    """The reasons in words: ``seat utilisation 93% (+0.12)``, largest first.

    >>> reasons_words("seat_utilisation=0.93@0.12;power_users=4.0@0.031;segment=smb@0.01")
    'seat utilisation 93% (+0.12), power users 4 (+0.03), segment smb (+0.01)'
    """
    if not code:
        return None
    said: list[str] = []
    for part in code.split(_SEP):
        name, _, rest = part.partition(_EQ)
        raw, _, share = rest.rpartition(_AT)
        value: Any = _number(raw) if raw else None
        own = describer(name)
        text = (own(value, {}) if own is not None else None) or figure(name, value)
        said.append(f"{text} ({float(share):+.2f})")
    return ", ".join(said)


def _number(raw: str) -> float | str:
    try:
        return float(raw)
    except ValueError:
        return raw  # a text signal's value


def _readiness_words(value: Any, evidence: Mapping[str, Any]) -> str | None:
    if value is None:
        return None
    return f"readiness {float(value):.0%}"


def _reasons_evidence(value: Any, evidence: Mapping[str, Any]) -> str | None:
    said = reasons_words(value)
    return f"because {said}" if said else None


@signal(
    "readiness",
    SignalType.number,
    "the chance the account expands within the horizon of the workspace's readiness model "
    "(0-1; headroom score train): readiness > 0.3",
    needs=("subscriptions",),
    describe=_readiness_words,
)
@signal(
    "readiness_reasons",
    SignalType.text,
    "the figures that raised readiness most on the day, with their share of it: "
    "name=value@share;... (a play fired on readiness shows them in words)",
    needs=("subscriptions",),
    describe=_reasons_evidence,
)
def readiness(ctx: Context) -> ir.Table:
    # one compute for both names: a run reading both scores the features once
    return _scores(ctx)

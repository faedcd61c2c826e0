"""Suggested peer groups of 8-15 people, each with its reason in plain words.

People are first split by the language they talk in (a group has to share one);
within a language, scikit-learn's KMeans places group centres over conditions, goal
behaviours, activity level and age band, and then every person is assigned to a
centre with each group's size fixed between the bounds (a balanced assignment:
scipy's linear_sum_assignment, or a greedy regret order for large populations).
The reason shown for a group lists what most of its members share.

Activity bands: Tudor-Locke C, Bassett DR. How many steps/day are enough?
Sports Med 2004;34(1):1-8 (<5,000 sedentary; 5,000-7,499 low active; 7,500-9,999
somewhat active; >=10,000 active).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

MIN_GROUP = 8  # issue 5: coaches form groups of 8-15 people
MAX_GROUP = 15
EXACT_LIMIT = 600  # above this many people in one language, assign greedily (memory: n x n)

ACTIVITY_BANDS = ((5000, "sedentary"), (7500, "low active"), (10000, "somewhat active"),
                  (math.inf, "active"))
ACTIVITY_WORDS = {"sedentary": "walk under 5,000 steps a day",
                  "low active": "walk 5,000-7,499 steps a day",
                  "somewhat active": "walk 7,500-9,999 steps a day",
                  "active": "walk 10,000 steps a day or more",
                  "unknown": "have no step counter yet"}
LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German", "pl": "Polish",
             "pt": "Portuguese", "it": "Italian", "ur": "Urdu", "pa": "Punjabi", "bn": "Bengali",
             "gu": "Gujarati", "ar": "Arabic", "cy": "Welsh", "zh": "Chinese", "ro": "Romanian"}
CONDITION_WORDS = {"type1_diabetes": "type 1 diabetes", "type2_diabetes": "type 2 diabetes",
                   "hypertension": "high blood pressure", "heart_failure": "heart failure",
                   "copd": "COPD", "frailty": "frailty"}


def activity_band(steps_per_day: float | None) -> str:
    if steps_per_day is None:
        return "unknown"
    return next(name for limit, name in ACTIVITY_BANDS if steps_per_day < limit)


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return "under 30" if age < 30 else f"{age // 10 * 10}s"


@dataclass(frozen=True, slots=True)
class PeerFeatures:
    patient_id: str
    conditions: tuple[str, ...]
    behaviours: tuple[str, ...]  # what their goals (or their latest self-assessment) work on
    steps_per_day: float | None
    age: int | None
    language: str = "en"

    @property
    def activity(self) -> str:
        return activity_band(self.steps_per_day)

    @property
    def age_band(self) -> str:
        return age_band(self.age)


@dataclass(frozen=True, slots=True)
class GroupSuggestion:
    members: tuple[str, ...]
    language: str
    reason: str  # plain words: what most members share
    shared: tuple[tuple[str, str, int], ...]  # (what, value, how many) behind the reason


@dataclass(frozen=True, slots=True)
class Suggestions:
    groups: tuple[GroupSuggestion, ...]
    unplaced: dict[str, str] = field(default_factory=dict)  # patient id -> why not placed


def matrix(people: Sequence[PeerFeatures]) -> npt.NDArray[np.float64]:
    """One row per person: multi-hot conditions and behaviours, activity and age as ordinals."""
    conditions = sorted({c for p in people for c in p.conditions})
    behaviours = sorted({b for p in people for b in p.behaviours})
    bands = [name for _, name in ACTIVITY_BANDS]
    rows = []
    for p in people:
        row = [1.0 if c in p.conditions else 0.0 for c in conditions]
        row += [1.0 if b in p.behaviours else 0.0 for b in behaviours]
        # activity 0..1 over the four bands; unknown sits in the middle
        row.append(bands.index(p.activity) / 3 if p.activity in bands else 0.5)
        row.append(min(max((p.age or 60) - 30, 0), 60) / 60)  # 30..90 years -> 0..1
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def group_count(n: int, *, min_size: int = MIN_GROUP, max_size: int = MAX_GROUP) -> int:
    """How many groups n people make (0 when n < min_size): as few as fit under max_size."""
    if n < min_size:
        return 0
    k = math.ceil(n / max_size)
    while n // k < min_size and k > 1:  # cannot happen for 8-15, kept for other bounds
        k -= 1
    return k


def fit_sizes(counts: Sequence[int], *, min_size: int = MIN_GROUP,
              max_size: int = MAX_GROUP) -> list[int]:
    """The group sizes closest to the clusters' natural sizes, each within the bounds."""
    n, sizes = sum(counts), [min(max(c, min_size), max_size) for c in counts]
    if not len(counts) * min_size <= n <= len(counts) * max_size:
        raise ValueError(f"{n} people do not fit {len(counts)} groups of {min_size}-{max_size}")
    while sum(sizes) < n:  # grow the group that lost most to the clipping
        j = max((i for i in range(len(sizes)) if sizes[i] < max_size),
                key=lambda i: (counts[i] - sizes[i], -i))
        sizes[j] += 1
    while sum(sizes) > n:  # shrink the group that gained most
        j = min((i for i in range(len(sizes)) if sizes[i] > min_size),
                key=lambda i: (counts[i] - sizes[i], i))
        sizes[j] -= 1
    return sizes


def group_sizes(n: int, *, min_size: int = MIN_GROUP, max_size: int = MAX_GROUP) -> list[int]:
    """Sizes as even as possible, each within the bounds ([] when n < min_size)."""
    k = group_count(n, min_size=min_size, max_size=max_size)
    if k == 0:
        return []
    base, extra = divmod(n, k)
    return [base + (1 if i < extra else 0) for i in range(k)]


def balanced_labels(x: npt.NDArray[np.float64], k: int, *, min_size: int = MIN_GROUP,
                    max_size: int = MAX_GROUP, seed: int = 0,
                    rounds: int = 10) -> npt.NDArray[np.intp]:
    """KMeans centres, then each person to a centre with every group within the bounds.

    Up to EXACT_LIMIT people: an exact minimum-distance assignment where each centre
    has ``min_size`` slots that must be filled and ``max_size - min_size`` that may be.
    Above it: the clusters' own sizes moved just enough to lie within the bounds, and a
    greedy assignment to them (the n x slots matrix would not fit in memory).
    """
    if k == 1:
        return np.zeros(x.shape[0], dtype=np.intp)
    # scikit-learn here, not at the top: every dashboard worker imports this module
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # categorical features: duplicate points are expected
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    centres = fitted.cluster_centers_
    exact = x.shape[0] <= EXACT_LIMIT
    sizes = [] if exact else fit_sizes(np.bincount(fitted.labels_, minlength=k).tolist(),
                                       min_size=min_size, max_size=max_size)
    labels = np.full(x.shape[0], -1, dtype=np.intp)
    for _ in range(rounds):
        distance = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # n x k
        new = (_bounded(distance, min_size, max_size) if exact else _greedy(distance, sizes))
        if np.array_equal(new, labels):
            break
        labels = new
        centres = np.array([x[labels == j].mean(axis=0) for j in range(k)])
    return labels


def _bounded(distance: npt.NDArray[np.float64], min_size: int,
             max_size: int) -> npt.NDArray[np.intp]:
    from scipy.optimize import linear_sum_assignment

    n, k = distance.shape
    slots = np.repeat(np.arange(k), max_size)
    must = np.tile(np.arange(max_size) < min_size, k)
    bonus = float(distance.sum()) + 1.0  # any solution filling every required slot wins
    rows, cols = linear_sum_assignment(distance[:, slots] - bonus * must)
    labels = np.empty(n, dtype=np.intp)
    labels[rows] = slots[cols]
    return labels


def _greedy(distance: npt.NDArray[np.float64], sizes: Sequence[int]) -> npt.NDArray[np.intp]:
    """The people who would lose most by not getting their nearest centre choose first."""
    ordered = np.sort(distance, axis=1)
    regret = ordered[:, 1] - ordered[:, 0]
    room = np.array(sizes)
    labels = np.empty(distance.shape[0], dtype=np.intp)
    for i in np.argsort(-regret, kind="stable"):
        choice = next(int(j) for j in np.argsort(distance[i], kind="stable") if room[j] > 0)
        labels[i], room[choice] = choice, room[choice] - 1
    return labels


def cluster_people(people: Sequence[PeerFeatures], *, min_size: int = MIN_GROUP,
                   max_size: int = MAX_GROUP, seed: int = 0) -> Suggestions:
    """Suggested groups, one language each, every size within [min_size, max_size]."""
    by_language: dict[str, list[PeerFeatures]] = {}
    for p in sorted(people, key=lambda p: p.patient_id):
        by_language.setdefault(p.language, []).append(p)
    groups: list[GroupSuggestion] = []
    unplaced: dict[str, str] = {}
    for language, members in sorted(by_language.items()):
        k = group_count(len(members), min_size=min_size, max_size=max_size)
        if k == 0:
            for p in members:
                unplaced[p.patient_id] = (f"fewer than {min_size} people who talk in "
                                          f"{language_name(language)} are looking for a group yet")
            continue
        labels = balanced_labels(matrix(members), k, min_size=min_size, max_size=max_size,
                                 seed=seed)
        for j in range(k):
            chosen = [p for p, label in zip(members, labels, strict=True) if label == j]
            groups.append(describe(chosen, language))
    logger.info("group suggestions: %d groups, %d people unplaced", len(groups), len(unplaced))
    return Suggestions(tuple(groups), unplaced)


def describe(members: Sequence[PeerFeatures], language: str) -> GroupSuggestion:
    """The reason for a group: what a majority of its members share, most shared first."""
    n = len(members)
    shared: list[tuple[str, str, int]] = []
    conditions = Counter(c for p in members for c in set(p.conditions))
    behaviours = Counter(b for p in members for b in set(p.behaviours))
    for what, counter in (("condition", conditions), ("behaviour", behaviours),
                          ("activity", Counter(p.activity for p in members)),
                          ("age", Counter(p.age_band for p in members))):
        shared += [(what, value, count) for value, count in counter.items()
                   if 2 * count > n and value != "unknown"]
    shared.sort(key=lambda s: (-s[2], s[0], s[1]))
    words = [f"all {n} talk in {language_name(language)}"]
    words += [_phrase(what, value, count, n) for what, value, count in shared]
    if not shared:
        words.append("a mix of conditions, goals and activity levels")
    reason = "; ".join(words)
    return GroupSuggestion(tuple(p.patient_id for p in members), language,
                           reason[0].upper() + reason[1:] + ".", tuple(shared))


def _phrase(what: str, value: str, count: int, n: int) -> str:
    who = "all" if count == n else f"{count} of {n}"
    if what == "condition":
        return f"{who} live with {CONDITION_WORDS.get(value, value.replace('_', ' '))}"
    if what == "behaviour":
        return f"{who} are working on {value.replace('_', ' ')}"
    if what == "activity":
        return f"{who} {ACTIVITY_WORDS[value]}"
    return f"{who} are {'under 30' if value == 'under 30' else 'in their ' + value}"


def language_name(code: str) -> str:
    return LANGUAGES.get(code, code)

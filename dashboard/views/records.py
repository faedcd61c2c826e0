"""The viewer's preferences and the nurse's reviews, for the views: the reads and writes
are the repositories' (core/appdb/preferences.py, core/appdb/patient_reviews.py)."""

from __future__ import annotations

from core.appdb.patient_reviews import Review, add_review, last_reviews, reviews_of
from core.appdb.preferences import Prefs, load_prefs, save_prefs, valid_timezone

__all__ = ["Prefs", "Review", "add_review", "last_reviews", "load_prefs", "reviews_of",
           "save_prefs", "valid_timezone"]

"""The review rules of relphot_core.reviews, tested once, in the core (the
pages and the API only call them)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relphot_core import reviews
from relphot_core.qc.flags import awaits_review, flag_about
from relphot_core.reviews import (CAUSES, ReviewInputError, check_review, flag_label, latest_states, review_problem,
                                  triage_order)
from relphot_core.testing.synth import make_result
from store_fixtures import store, store_url  # noqa: F401  (fixtures)


def test_check_review_cleans_and_refuses_with_the_reason():
    assert check_review("overruled", " a  b ", " why ", "") == reviews.ReviewInput("overruled", "a b", "why", "")
    assert check_review("overruled", "a", "", "persistence").cause == "persistence"
    assert len(check_review("confirmed", "x" * 500, "y" * 5000).reviewer) == reviews.MAX_REVIEWER
    with pytest.raises(ReviewInputError, match="decision must be one of confirmed, overruled"):
        check_review("maybe", "a")
    with pytest.raises(ReviewInputError, match="Enter your name"):
        check_review("confirmed", "   ")
    with pytest.raises(ReviewInputError, match="overruling a flag needs a reason"):
        check_review("overruled", "a", "  ", "")
    assert check_review("overruled", "a", reason_required=False).comment == ""
    with pytest.raises(ReviewInputError, match="cause must be one of satellite trail"):
        check_review("confirmed", "a", "", "cosmic rays")
    assert review_problem("confirmed", "a") is None
    assert review_problem("confirmed", "").startswith("Enter your name")


def test_the_vocabulary_is_one_tuple_of_distinct_short_words():
    assert len(set(CAUSES)) == len(CAUSES) and all(0 < len(c) <= 32 for c in CAUSES)
    assert {"satellite trail", "persistence", "flat-field", "scattered light", "variable source",
            "software"} <= set(CAUSES)
    import inspect

    source = inspect.getsource(reviews)
    for cause in CAUSES:  # each one documented beside the tuple
        assert f"- ``{cause}``: " in source


def test_flag_about_names_the_flag_shown_first():
    assert flag_about({"status": "FAIL", "reason": "|QPRELEX - 1| = 0.03"}) == ("status", "FAIL: |QPRELEX - 1| = 0.03")
    assert flag_about({"status": "NODATA", "reason": None}) == ("status", "NODATA")
    assert flag_about({"status": "OK", "detector_flag": "WARN", "detector_reason": "detector 23"}) == (
        "detector", "detector WARN: detector 23")
    assert flag_about({"status": "OK", "crosscheck": "global 0.98"}) == ("crosscheck", "global 0.98")
    assert flag_about({"status": "OK", "alarmed": True, "alarm_reason": "drift since 2025-01-02"}) == (
        "alarm", "drift since 2025-01-02")
    assert flag_about({"status": "OK", "alarmed": float("nan"), "reason": ""}) == ("status", "OK")
    assert flag_label("status", "FAIL: x") == "status FAIL: x"
    assert flag_label(None, None, "WARN") == "status WARN"  # a review stored before flags were kept
    assert flag_label("alarm", "drift") == "alarm: drift"


def test_awaits_review_is_flagged_and_not_reviewed():
    df = pd.DataFrame({"status": ["OK", "WARN", "FAIL", "OK", "OK"], "reviewed": [False, False, True, False, False],
                       "detector_flag": [None, None, None, "FAIL", None], "alarmed": [False] * 4 + [True]})
    assert awaits_review(df).tolist() == [False, True, False, True, True]


def test_submit_revoke_and_latest_states_through_a_store(store):
    store.save_result(make_result(7, values=[1.0, 0.96, 1.0, 1.0]))
    rows = {(7, "NIR_J", 2): {"status": "FAIL", "reason": "far"}, (7, "NIR_J", 1): {"status": "OK", "alarmed": True,
                                                                                  "alarm_reason": "limits"}}
    with pytest.raises(ReviewInputError, match="needs a reason"):
        reviews.submit(store, list(rows), "overruled", "ann")
    first = reviews.submit(store, [(7, "NIR_J", 2)], "confirmed", "ann", "", "flat-field")
    batch = reviews.submit(store, list(rows), "overruled", "bob", "fine after all", rows=rows)
    table = store.reviews()
    assert table["flag_reason"].iloc[0].startswith("FAIL")  # the store's own row
    assert table["flag_reason"].tolist()[1:] == ["FAIL: far", "limits"]  # the rows the reviewer saw
    assert table["flag_kind"].tolist() == ["status", "status", "alarm"]
    states = reviews.review_states(store, 7, "NIR_J")
    assert {d: (s.decision, s.reviewer, s.batch_id) for d, s in states.items()} == {
        2: ("overruled", "bob", batch), 1: ("overruled", "bob", batch)}
    with pytest.raises(ReviewInputError, match="Enter your name"):
        reviews.revoke(store, batch, "")
    with pytest.raises(ReviewInputError, match="not a batch number"):
        reviews.revoke(store, "x", "carol")
    assert reviews.revoke(store, str(batch), "carol") == 2
    states = reviews.review_states(store, 7, "NIR_J")
    assert {d: (s.decision, s.cause, s.batch_id) for d, s in states.items()} == {2: ("confirmed", "flat-field",
                                                                                     first)}
    assert latest_states(store.reviews().iloc[0:0]) == {}
    found = store.reviews(search="FLAT")  # the one search rule: the store's
    assert found["batch_id"].tolist() == [first]
    assert len(store.reviews(search="")) == 3


def test_triage_order_puts_fail_then_warn_then_nodata_then_other_flags_farthest_first():
    queue = pd.DataFrame({
        "obs_id":   [5, 1, 2, 3, 4, 6, 7, 7],
        "filter":   ["NIR_J", "NIR_H", "NIR_Y", "NIR_J", "NIR_J", "NIR_Y", "NIR_H", "NIR_Y"],
        "exposure": [1, 1, 1, 1, 1, 1, 2, 2],
        "status":   ["OK", "NODATA", "WARN", "FAIL", "FAIL", "WARN", "FAIL", "FAIL"],
        "value":    [1.0, np.nan, 1.007, 0.97, 1.05, 0.99, 0.97, 0.97],
    })
    order = queue.iloc[triage_order(queue)][["obs_id", "filter"]].values.tolist()
    # FAIL by |value - 1| (ties: obs id, then filter in FILTERS order), WARN, NODATA, then the OK with a flag
    assert order == [[4, "NIR_J"], [3, "NIR_J"], [7, "NIR_Y"], [7, "NIR_H"], [6, "NIR_Y"], [2, "NIR_Y"],
                     [1, "NIR_H"], [5, "NIR_J"]]
    assert triage_order(queue.iloc[0:0]).size == 0

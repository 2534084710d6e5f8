"""The status type and the exposure status rules (`relphot_core.status`),
tested once, here: each rule's status and reason, their boundaries, and the
order of the statuses."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relphot_core.config import Thresholds
from relphot_core.status import (
    EXPOSURE_RULES, FLAGGED, OUT_OF_LIMITS, STATUS_ORDER, Status, exposure_statuses, fired_rules, is_flagged,
    judge, reason_for, status_rank, worst,
)

DEFAULT = Thresholds()
# binary-exact limits, so that a value on a limit is on it exactly
EXACT = Thresholds(fail=0.25, warn=0.125, warn_nsigma=2.0)


def test_status_is_its_string_everywhere_it_leaves_the_core():
    assert Status.FAIL == "FAIL" and Status("NODATA") is Status.NODATA
    assert str(Status.WARN) == f"{Status.WARN}" == "WARN"
    assert {"OK": 1}[Status.OK] == 1
    assert [s.value for s in STATUS_ORDER] == ["OK", "WARN", "FAIL", "NODATA"]
    assert set(STATUS_ORDER) == set(Status)
    with pytest.raises(ValueError):
        Status("BAD")


def test_order_and_flagged():
    assert [s.rank for s in STATUS_ORDER] == [0, 1, 2, 3]
    assert status_rank("FAIL") == 2 and status_rank("") == status_rank(None) == status_rank("?") == 4
    assert {Status.WARN, Status.FAIL, Status.NODATA} == FLAGGED
    assert [is_flagged(s) for s in ("OK", "WARN", "FAIL", "NODATA", "")] == [False, True, True, True, False]
    assert all(s.is_flagged for s in OUT_OF_LIMITS) and not Status.OK.is_flagged
    assert worst(["OK", "WARN", "OK"]) is Status.WARN and worst(["FAIL", "NODATA"]) is Status.NODATA
    assert worst([]) is None and worst(["", None]) is None


@pytest.mark.parametrize("value, error, thresholds, status, reason", [
    (1.0, 0.001, DEFAULT, "OK", ""),
    (0.9742, 0.0006, DEFAULT, "FAIL", "|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)"),
    (1.016, 0.05, DEFAULT, "FAIL", "|QPRELEX − 1| = 0.0160 > FAIL limit 0.015 (0 σ)"),  # whatever the error
    (1.007, 0.001, DEFAULT, "WARN", "|QPRELEX − 1| = 0.0070 > WARN limit 0.005 (7 σ)"),
    (1.007, 0.004, DEFAULT, "OK", ""),                 # beyond 0.5 % but under 3 sigma
    (1.004, 0.0001, DEFAULT, "OK", ""),                # significant but inside 0.5 %
    (1.008, np.nan, DEFAULT, "WARN", "|QPRELEX − 1| = 0.0080 > WARN limit 0.005"),  # no error: precise
    (0.98, -0.001, DEFAULT, "FAIL", "|QPRELEX − 1| = 0.0200 > FAIL limit 0.015 (20 σ)"),
    (np.nan, np.nan, DEFAULT, "NODATA", "no QPRELEX value"),
    (np.inf, 0.001, DEFAULT, "NODATA", "no QPRELEX value"),
    (None, None, DEFAULT, "NODATA", "no QPRELEX value"),
    (0.97, 0.001, Thresholds(fail=0.05, warn=0.02), "WARN", "|QPRELEX − 1| = 0.0300 > WARN limit 0.02 (30 σ)"),
    # boundaries: a limit is passed only strictly, and so is the significance
    (1.25, 0.0, EXACT, "WARN", "|QPRELEX − 1| = 0.2500 > WARN limit 0.125"),
    (1.25 + 2 ** -20, 0.0, EXACT, "FAIL", "|QPRELEX − 1| = 0.2500 > FAIL limit 0.25"),
    (0.75, 0.0, EXACT, "WARN", "|QPRELEX − 1| = 0.2500 > WARN limit 0.125"),
    (1.125, 0.0, EXACT, "OK", ""),
    (1.125 + 2 ** -20, 0.0, EXACT, "WARN", "|QPRELEX − 1| = 0.1250 > WARN limit 0.125"),
    (1.1875, 0.09375, EXACT, "OK", ""),                # exactly 2 sigma: not significant
    (1.1875, 0.09375 - 2 ** -20, EXACT, "WARN", "|QPRELEX − 1| = 0.1875 > WARN limit 0.125 (2 σ)"),
])
def test_rules_give_status_and_reason(value, error, thresholds, status, reason):
    verdict = judge(value, error, thresholds)
    assert (verdict.status, verdict.reason) == (status, reason)
    assert exposure_statuses([np.nan if value is None else value], [np.nan if error is None else error],
                             thresholds).tolist() == [status]
    assert reason_for(status, value, error, thresholds) == reason


def test_reason_for_makes_no_wrong_claim():
    assert reason_for("FAIL", 0.97, 0.001, None) == ""          # no thresholds
    assert reason_for("FAIL", 1.01, 0.001, DEFAULT) == ""       # a FAIL given with other thresholds
    assert reason_for("WARN", 1.007, 0.004, DEFAULT) == ""      # past the limit but not significant
    assert reason_for("OK", 1.2, 0.001, DEFAULT) == reason_for("BAD", 1.2, 0.001, DEFAULT) == ""
    assert reason_for("FAIL", "x", 0.001, DEFAULT) == ""


def test_statuses_are_vectorised_and_plain_strings():
    out = exposure_statuses(np.array([1.0, 0.97, np.nan]), 0.001, DEFAULT)
    assert out.tolist() == ["OK", "FAIL", "NODATA"] and type(out.tolist()[0]) is str
    assert exposure_statuses([], [], DEFAULT).size == 0
    assert fired_rules([1.0, 0.97], [0.001, 0.001], DEFAULT).tolist() == [-1, 1]


values = st.one_of(st.floats(0.5, 1.5), st.just(math.nan), st.just(math.inf))
errors = st.one_of(st.floats(0.0, 0.05), st.just(math.nan), st.floats(-0.05, 0.0))
bands = st.builds(lambda warn, extra, n: Thresholds(warn=warn, fail=warn + extra, warn_nsigma=n),
                  st.floats(0.001, 0.05), st.floats(0.0, 0.05), st.floats(0.0, 10.0))


@given(values, errors, bands)
def test_the_reason_names_the_rule_that_fired(value, error, thresholds):
    verdict = judge(value, error, thresholds)
    index = int(fired_rules([value], [error], thresholds)[0])
    if index < 0:
        assert verdict.status is Status.OK and verdict.rule is None and verdict.reason == ""
        assert all(reason_for(rule.status, value, error, thresholds) == "" for rule in EXPOSURE_RULES)
        return
    rule = EXPOSURE_RULES[index]
    assert verdict.rule is rule and verdict.status is rule.status
    assert rule.name in verdict.reason
    # no earlier rule holds (the first that holds decides), and the reason is the status's own
    assert all(reason_for(earlier.status, value, error, thresholds) == "" for earlier in EXPOSURE_RULES[:index])
    assert reason_for(verdict.status, value, error, thresholds) == verdict.reason


@given(st.floats(0.0, 0.1), st.floats(0.0, 0.1), st.floats(0.0, 0.01), bands, st.booleans())
def test_a_larger_deviation_is_never_a_better_status(small, extra, error, thresholds, brighter):
    sign = -1.0 if brighter else 1.0
    near = judge(1.0 + sign * small, error, thresholds).status
    far = judge(1.0 + sign * (small + extra), error, thresholds).status
    assert near.rank <= far.rank
    # and a more precise factor is never a better status either
    assert judge(1.0 + sign * small, error / 2, thresholds).status.rank >= near.rank


def test_the_examples_run():
    import doctest

    import relphot_core.flags
    import relphot_core.status

    for module in (relphot_core.status, relphot_core.flags):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0

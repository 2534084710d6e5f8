"""relphot_core.photometry: the flux and magnitude conversions are each other's inverses."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relphot_core.photometry import (LN10_04, MEDIAN_EFFICIENCY, flux_ratio_to_mag, flux_to_mag,
                                     mag_error_to_ratio_error, mag_to_flux, mag_to_flux_ratio,
                                     ratio_error_to_mag_error)

ratios = st.floats(min_value=1e-6, max_value=1e6)


@given(ratio=ratios, error=st.floats(min_value=0.0, max_value=1.0))
def test_scalar_round_trips(ratio, error):
    mag = flux_ratio_to_mag(ratio)
    assert type(mag) is float and mag_to_flux_ratio(mag) == pytest.approx(ratio, rel=1e-12)
    assert ratio_error_to_mag_error(ratio, mag_error_to_ratio_error(ratio, error)) == pytest.approx(error)
    assert flux_to_mag(ratio, 30.0) == pytest.approx(30.0 + mag)
    assert float(mag_to_flux(flux_to_mag(ratio, 25.0), 25.0)) == pytest.approx(ratio, rel=1e-12)


@given(values=st.lists(ratios, min_size=1, max_size=20))
def test_arrays_convert_element_by_element(values):
    array = np.array(values)
    np.testing.assert_allclose(flux_ratio_to_mag(array), [flux_ratio_to_mag(v) for v in values], rtol=1e-14)
    np.testing.assert_allclose(flux_to_mag(array, 30.0), [flux_to_mag(v, 30.0) for v in values], rtol=1e-14)


def test_constants():
    assert pytest.approx(math.log(10.0) / 2.5) == LN10_04
    assert pytest.approx(math.sqrt(math.pi / 2), abs=5e-5) == MEDIAN_EFFICIENCY
    rng = np.random.default_rng(1)  # the error of the median of n normals, by Monte Carlo
    medians = np.median(rng.normal(size=(4000, 201)), axis=1)
    assert np.std(medians) * math.sqrt(201) == pytest.approx(MEDIAN_EFFICIENCY, rel=0.05)
    with pytest.raises(ValueError):
        flux_ratio_to_mag(0.0)

"""Configuration: the [detectors] and [control] sections and their validation."""
import dataclasses

import pytest

from relphot_core.config import Config, Control, Detectors, Thresholds, load_config
from relphot_core.errors import ConfigError


def test_defaults_are_valid_and_keep_the_old_fields():
    config = Config().validate()
    assert config.thresholds.drift_window == 60 and config.thresholds.drift_nsigma == 3.0
    assert config.detectors == Detectors() and config.control == Control()
    assert {"detectors.fail", "crosscheck.nsigma", "thresholds.drift_window"} <= set(config.parameters())
    assert not any(key.startswith("control.") for key in config.parameters())  # read time, not a run's


def test_every_new_field_has_a_docstring_in_the_source():
    import inspect

    for section in (Detectors, Control):
        source = inspect.getsource(section)
        for item in dataclasses.fields(section):
            line = next(i for i, text in enumerate(source.splitlines()) if text.strip().startswith(f"{item.name}:"))
            assert source.splitlines()[line + 1].strip().startswith('"""'), item.name


def test_the_control_section_is_the_keywords_of_control_rules():
    import inspect

    from relphot_core.control import control_rules

    keywords = inspect.signature(control_rules).parameters
    for item in dataclasses.fields(Control):
        assert keywords[item.name].default == item.default


def test_a_toml_file_sets_the_new_sections(tmp_path):
    path = tmp_path / "relphot.toml"
    path.write_text("[detectors]\nfail = 0.02\nnsigma = 4\n[control]\ncusum_h = 10\ncusum_window = 50\n")
    config = load_config(path)
    assert config.detectors.fail == 0.02 and config.detectors.nsigma == 4.0
    assert config.control.cusum_h == 10.0 and config.control.cusum_window == 50


@pytest.mark.parametrize("section, values, name", [
    ("control", {"cusum_h": 0.0}, "control.cusum_h"),
    ("control", {"cusum_h": float("nan")}, "control.cusum_h"),
    ("control", {"cusum_k": -0.5}, "control.cusum_k"),
    ("control", {"outlier_nsigma": 0.0}, "control.outlier_nsigma"),
    ("control", {"cusum_window": 0}, "control.cusum_window"),
    ("control", {"reference_points": 10}, "control.reference_points"),
    ("control", {"min_reference_points": 1}, "control.min_reference_points"),
    ("control", {"max_gap_days": -1.0}, "control.max_gap_days"),
    ("control", {"min_sigma": 0.0}, "control.min_sigma"),
    ("detectors", {"warn": 0.02}, "detectors.warn"),   # warn > fail
    ("detectors", {"fail": 1.5}, "detectors.fail"),
    ("detectors", {"nsigma": -1.0}, "detectors.nsigma"),
    ("detectors", {"min_sources": 0}, "detectors.min_sources"),
    ("thresholds", {"drift_window": 0}, "thresholds.drift_window"),
    ("thresholds", {"drift_nsigma": 0.0}, "thresholds.drift_nsigma"),
    ("thresholds", {"warn": 0.02}, "thresholds.warn"),
])
def test_impossible_values_are_refused_naming_the_parameter(section, values, name):
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        Config().replace(**{section: values})


def test_wrong_types_and_unknown_options_are_refused():
    with pytest.raises(ConfigError, match="control.cusum_window must be of type int"):
        Config().replace(control={"cusum_window": 1.5})
    with pytest.raises(ConfigError, match="unknown option control.lambda"):
        Config().replace(control={"lambda": 0.1})
    assert Thresholds().drift_window == 60

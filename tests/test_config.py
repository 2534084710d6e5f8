"""Configuration: the declarations (doc, unit, option), the validation of
every field, the options and product descriptions derived from them."""
import argparse
import dataclasses
from pathlib import Path

import pytest

from relphot_core.config import (
    UNITS, Config, Control, Detectors, ParameterDoc, Thresholds, load_config, parameter_docs,
)
from relphot_core.errors import ConfigError

DOCS = parameter_docs()
BIT_MASKS = {"selection.flags_mask"}
"""Numeric parameters without a unit (a bit mask is not a quantity)."""


# ------------------------------------------------------------ declarations

def test_parameter_docs_cover_every_field_of_every_section_in_order():
    expected = [(section.name, item.name) for section in dataclasses.fields(Config)
                for item in dataclasses.fields(getattr(Config(), section.name))]
    assert [(doc.section, doc.name) for doc in DOCS] == expected
    assert {doc.section for doc in DOCS} >= {"selection", "matching", "clipping", "factors", "thresholds",
                                             "crosscheck", "detectors", "control", "columns", "keywords"}
    for doc in DOCS:
        assert isinstance(doc, ParameterDoc)
        assert doc.default == getattr(getattr(Config(), doc.section), doc.name)


def test_every_parameter_has_a_doc_and_an_option():
    for doc in DOCS:
        assert doc.doc and doc.doc[0].isupper() and doc.doc.endswith("."), doc.key
        assert len(doc.doc) < 300, doc.key  # one or two sentences
        assert doc.option and doc.option.startswith("--"), doc.key
    options = [doc.option for doc in DOCS]
    assert len(set(options)) == len(options), "two parameters share an option"


def test_every_quantity_has_a_unit_and_names_have_none():
    """The rule: every numeric parameter (float or int) has a unit of
    `UNITS`, except bit masks; strings (names, methods) have none."""
    for doc in DOCS:
        numeric = doc.type.replace(" | None", "") in ("float", "int")
        if numeric and doc.key not in BIT_MASKS:
            assert doc.unit in UNITS, doc.key
        else:
            assert doc.unit is None, doc.key
    units = {doc.key: doc.unit for doc in DOCS}
    assert units["matching.radius_arcsec"] == "arcsec" and units["selection.mag_min"] == "mag"
    assert units["thresholds.fail"] == "fraction" and units["clipping.sigma"] == "sigma"
    assert units["control.max_gap_days"] == "days" and units["thresholds.drift_window"] == "count"


def test_types_are_the_declared_ones():
    types = {doc.key: doc.type for doc in DOCS}
    assert types["selection.min_snr"] == "float" and types["selection.mag_min"] == "float | None"
    assert types["clipping.max_iters"] == "int" and types["columns.flux"] == "str"
    assert types["alerts.targets"] == "tuple[str, ...]" and types["alerts.dashboard_url"] == "str | None"
    assert set(types.values()) == {"float", "int", "str", "float | None", "str | None", "tuple[str, ...]"}


def test_defaults_are_valid_and_runs_leave_out_the_read_time_sections():
    config = Config().validate()
    assert config.thresholds.drift_window == 60 and config.thresholds.drift_nsigma == 3.0
    assert config.detectors == Detectors() and config.control == Control()
    assert {"detectors.fail", "crosscheck.nsigma", "thresholds.drift_window"} <= set(config.parameters())
    assert not any(key.startswith("control.") for key in config.parameters())  # read time, not a run's


def test_the_control_section_is_the_keywords_of_control_rules():
    import inspect

    from relphot_core.control import control_rules

    keywords = inspect.signature(control_rules).parameters
    for item in dataclasses.fields(Control):
        assert keywords[item.name].default == item.default


def test_the_module_cites_nothing_outside_the_repository():
    import relphot_core.config as module

    text = Path(module.__file__).read_text(encoding="utf-8")
    assert "DESIGN.md" not in text and "RECIPES.md" not in text


# ------------------------------------------------------------ validation

def test_a_toml_file_sets_the_sections(tmp_path):
    path = tmp_path / "relphot.toml"
    path.write_text("[detectors]\nfail = 0.02\nnsigma = 4\n[control]\ncusum_h = 10\ncusum_window = 50\n"
                    "[selection]\nmag_min = 16\nmag_max = 23.5\n")
    config = load_config(path)
    assert config.detectors.fail == 0.02 and config.detectors.nsigma == 4.0
    assert isinstance(config.detectors.nsigma, float)  # an integer is taken for a float
    assert config.control.cusum_h == 10.0 and config.control.cusum_window == 50
    assert (config.selection.mag_min, config.selection.mag_max) == (16.0, 23.5)


@pytest.mark.parametrize("section, values, name", [
    ("selection", {"min_snr": -1.0}, "selection.min_snr"),
    ("selection", {"flags_mask": -1}, "selection.flags_mask"),
    ("selection", {"mag_min": 24.0, "mag_max": 20.0}, "selection.mag_min"),
    ("selection", {"mag_min": 20.0, "mag_max": 20.0}, "selection.mag_min"),
    ("selection", {"zero_point": float("inf")}, "selection.zero_point"),
    ("matching", {"radius_arcsec": 0.0}, "matching.radius_arcsec"),
    ("matching", {"radius_arcsec": -0.5}, "matching.radius_arcsec"),
    ("clipping", {"sigma": 0.0}, "clipping.sigma"),
    ("clipping", {"max_iters": 0}, "clipping.max_iters"),
    ("factors", {"min_pair_matches": 0}, "factors.min_pair_matches"),
    ("factors", {"method": "mean"}, "factors.method"),
    ("thresholds", {"drift_window": 0}, "thresholds.drift_window"),
    ("thresholds", {"drift_nsigma": 0.0}, "thresholds.drift_nsigma"),
    ("thresholds", {"warn": 0.02}, "thresholds.warn"),  # warn > fail
    ("thresholds", {"fail": 0.0}, "thresholds.fail"),
    ("thresholds", {"warn_nsigma": -1.0}, "thresholds.warn_nsigma"),
    ("crosscheck", {"nsigma": 0.0}, "crosscheck.nsigma"),
    ("crosscheck", {"min_difference": 1.0}, "crosscheck.min_difference"),
    ("detectors", {"warn": 0.02}, "detectors.warn"),  # warn > fail
    ("detectors", {"fail": 1.5}, "detectors.fail"),
    ("detectors", {"nsigma": -1.0}, "detectors.nsigma"),
    ("detectors", {"min_sources": 0}, "detectors.min_sources"),
    ("control", {"cusum_h": 0.0}, "control.cusum_h"),
    ("control", {"cusum_h": float("nan")}, "control.cusum_h"),
    ("control", {"cusum_k": -0.5}, "control.cusum_k"),
    ("control", {"cusum_cap": 0.4}, "control.cusum_cap"),  # below cusum_k
    ("control", {"outlier_nsigma": 0.0}, "control.outlier_nsigma"),
    ("control", {"cusum_window": 0}, "control.cusum_window"),
    ("control", {"reference_points": 10}, "control.reference_points"),
    ("control", {"min_reference_points": 1}, "control.min_reference_points"),
    ("control", {"max_gap_days": -1.0}, "control.max_gap_days"),
    ("control", {"min_sigma": 0.0}, "control.min_sigma"),
    ("columns", {"flux": ""}, "columns.flux"),
    ("keywords", {"obs_id": "  "}, "keywords.obs_id"),
])
def test_impossible_values_are_refused_naming_the_parameter(section, values, name):
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        Config().replace(**{section: values})


@pytest.mark.parametrize("section, values, message", [
    ("selection", {"mag_min": "abc"}, "selection.mag_min must be a number (got 'abc')"),
    ("selection", {"min_snr": "10"}, "selection.min_snr must be a number (got '10')"),
    ("selection", {"flags_mask": 1.5}, "selection.flags_mask must be a whole number (got 1.5)"),
    ("selection", {"flags_mask": True}, "selection.flags_mask must be a whole number (got True)"),
    ("control", {"cusum_window": 1.5}, "control.cusum_window must be a whole number (got 1.5)"),
    ("factors", {"method": 1}, "factors.method must be text (got 1)"),
    ("columns", {"ra": ["RA"]}, "columns.ra must be text (got ['RA'])"),
    ("thresholds", {"fail": False}, "thresholds.fail must be a number (got False)"),
])
def test_wrong_types_are_refused_naming_the_parameter_and_the_value(section, values, message):
    with pytest.raises(ConfigError) as caught:
        Config().replace(**{section: values})
    assert str(caught.value) == f"options: {message}"


def test_unknown_sections_and_keys_are_refused():
    with pytest.raises(ConfigError, match=r"unknown option control\.lambda"):
        Config().replace(control={"lambda": 0.1})
    with pytest.raises(ConfigError, match=r"unknown configuration section \[tresholds\]"):
        Config().replace(tresholds={"fail": 0.1})
    with pytest.raises(ConfigError, match=r"\[matching\] must be a table"):
        Config().replace(matching=0.5)
    assert Thresholds().drift_window == 60


def test_the_error_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[selection]\nmag_min = 24.0\nmag_max = 20.0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path) and "selection.mag_min" in caught.value.reason
    path.write_text('[matching]\nradius_arcsec = "half"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: matching\.radius_arcsec must be a number \(got 'half'\)$"):
        load_config(path)
    path.write_text("[selection]\nflags_mask = -4\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: selection\.flags_mask must be >= 0 \(got -4\)$"):
        load_config(path)
    path.write_text(f'[columns]\nra = "{"R" * 200}"\n[factors]\nmethod = "{"m" * 200}"\n')
    with pytest.raises(ConfigError) as caught:  # a long bad value is cut, the line stays readable
        load_config(path)
    assert caught.value.reason == f"factors.method must be one of 'median', 'global' (got '{'m' * 36}...)"


def test_validate_checks_sections_built_directly():
    config = dataclasses.replace(Config(), thresholds=Thresholds(drift_window=0))
    with pytest.raises(ConfigError, match=r"somewhere: thresholds\.drift_window must be >= 1 \(got 0\)$"):
        config.validate("somewhere")
    with pytest.raises(ConfigError, match=r"thresholds\.fail must be a number \(got '0\.1'\)$"):
        dataclasses.replace(Config(), thresholds=Thresholds(fail="0.1")).validate()


def test_none_leaves_a_value_alone():
    config = Config().replace(selection={"min_snr": None, "mag_max": 23.0})
    assert config.selection.min_snr == 10.0 and config.selection.mag_max == 23.0


# ------------------------------------------------------------ command line

def _parser(sections=None):
    from relphot_core.cli.common import RUN_SECTIONS, add_config_options

    parser = argparse.ArgumentParser()
    add_config_options(parser, RUN_SECTIONS if sections is None else sections)
    return parser


def _sample(doc: ParameterDoc) -> tuple[str, object]:
    """A valid value of the parameter other than its default, as typed and as parsed."""
    if doc.key == "factors.method":
        return "global", "global"
    if doc.type == "str":
        return "OTHER_NAME", "OTHER_NAME"
    if doc.type == "int":
        return "2", 2
    if doc.key == "selection.mag_min":
        return "15.5", 15.5
    if doc.key == "selection.mag_max":
        return "24.5", 24.5
    value = doc.default * 0.5 if doc.key in ("thresholds.warn", "detectors.warn") else doc.default * 1.5
    return repr(value), value


def test_every_run_parameter_is_an_option_that_reaches_the_config():
    from relphot_core.cli.common import RUN_SECTIONS, config_from_args

    parser = _parser()
    for doc in DOCS:
        if doc.section not in RUN_SECTIONS:
            continue
        typed, parsed = _sample(doc)
        config = config_from_args(parser.parse_args([doc.option, typed]))
        assert getattr(getattr(config, doc.section), doc.name) == parsed, doc.key


def test_serve_sections_reach_the_config_and_every_parameter_has_a_command():
    from relphot_core.cli.common import ALERT_SECTIONS, RUN_SECTIONS, SERVE_SECTIONS, config_from_args

    assert set(RUN_SECTIONS) | set(SERVE_SECTIONS) | set(ALERT_SECTIONS) == {doc.section for doc in DOCS}
    parser = _parser(SERVE_SECTIONS)
    config = config_from_args(parser.parse_args(["--cusum-h", "9", "--reference-points", "300",
                                                 "--min-reference-points", "30", "--detector-fail", "0.02"]))
    assert config.control.cusum_h == 9.0 and config.control.reference_points == 300
    assert config.control.min_reference_points == 30 and config.detectors.fail == 0.02
    with pytest.raises(SystemExit):  # not an option of serve
        parser.parse_args(["--radius", "1"])


def test_options_override_the_file_and_errors_name_the_command_line(tmp_path, capsys):
    from relphot_core.cli.common import config_from_args

    path = tmp_path / "relphot.toml"
    path.write_text("[matching]\nradius_arcsec = 0.7\n[thresholds]\nfail = 0.02\n")
    config = config_from_args(_parser().parse_args(["--config", str(path), "--fail", "0.03"]))
    assert config.matching.radius_arcsec == 0.7 and config.thresholds.fail == 0.03
    with pytest.raises(ConfigError, match=r"^command line: thresholds\.warn must be <= thresholds\.fail "
                                          r"\(got 0\.05 and 0\.015\)$"):
        config_from_args(_parser().parse_args(["--warn", "0.05"]))
    with pytest.raises(ConfigError, match=r"^command line: factors\.method must be one of 'median', 'global' "
                                          r"\(got 'mean'\)$"):
        config_from_args(_parser().parse_args(["--method", "mean"]))
    # text that is not a number: the same one line as a TOML file's, not argparse's usage
    with pytest.raises(ConfigError, match=r"^command line: selection\.min_snr must be a number \(got 'abc'\)$"):
        config_from_args(_parser().parse_args(["--min-snr", "abc"]))
    with pytest.raises(ConfigError, match=r"^command line: clipping\.max_iters must be a whole number \(got '2\.5'\)$"):
        config_from_args(_parser().parse_args(["--clip-iters", "2.5"]))
    assert config_from_args(_parser().parse_args(["--clip-iters", "7", "--min-snr", "1e1"])).selection.min_snr == 10.0


def test_the_help_gives_each_parameter_its_doc_unit_and_default():
    text = " ".join(_parser().format_help().split())
    assert "--radius X Radius of the one-to-one sky match" in text
    assert "(arcsec; default 0.5; matching.radius_arcsec)" in text
    assert "[selection] Which sources are reliable enough to compare" in text
    assert "(0.2 %)" in text  # percent signs survive argparse's formatting


# ------------------------------------------------------------ product

def test_the_product_describes_parameters_from_the_declarations():
    from relphot_core.products import parameter_description

    for doc in DOCS:
        assert parameter_description(doc.key) == (doc.doc, doc.unit or ""), doc.key
    assert parameter_description("relphot.ra_pointing")[1] == "deg"
    assert parameter_description("retired.option") == (
        "Processing parameter (not in this version's configuration)", "")


def test_a_written_product_carries_the_declared_descriptions_and_units():
    from lxml import etree

    from relphot_core.products import product_bytes
    from test_products import make_result

    root = etree.fromstring(product_bytes(make_result()))
    written = {p.findtext("Key"): (p.findtext("Description"), p.findtext("Unit") or "")
               for p in root.iter("{*}Parameter")}
    for doc in DOCS:
        if doc.key in written:
            assert written[doc.key] == (doc.doc, doc.unit or ""), doc.key
    assert written["thresholds.fail"] == (
        "FAIL when |QPRELEX - 1| exceeds this.", "fraction")


# ------------------------------------------------------------ end to end

@pytest.mark.parametrize("argv, message", [
    (["compute", "x.fits", "--radius", "0"],
     "relphot compute: error: command line: matching.radius_arcsec must be > 0 (got 0.0)"),
    (["compute", "x.fits", "--method", "mean"],
     "relphot compute: error: command line: factors.method must be one of 'median', 'global' (got 'mean')"),
    (["compute", "x.fits", "--mag-min", "24", "--mag-max", "20"],
     "relphot compute: error: command line: selection.mag_min must be < selection.mag_max "
     "(got 24.0 and 20.0; the bright end is the smaller magnitude)"),
    (["compute", "x.fits", "--mag-min", "abc"],
     "relphot compute: error: command line: selection.mag_min must be a number (got 'abc')"),
    (["compute", "x.fits", "--warn", "nan"],
     "relphot compute: error: command line: thresholds.warn must be a finite number (got nan)"),
    (["serve", "--cusum-cap", "0.1"],
     "relphot serve: error: command line: control.cusum_cap must be > control.cusum_k (got 0.1 and 0.5)"),
    (["serve", "--cusum-window", "ten"],
     "relphot serve: error: command line: control.cusum_window must be a whole number (got 'ten')"),
])
def test_the_commands_refuse_bad_options_in_one_line(argv, message, tmp_path, capsys):
    from relphot_core.cli import main

    db = tmp_path / "never.db"
    assert main([*argv, "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == message
    assert not db.exists()  # refused before anything was opened

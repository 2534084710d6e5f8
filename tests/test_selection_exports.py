"""One selection everywhere (issue 12, defect 1): for the issue's URL after a
bulk review, the JSON API, the exports page, the zip and ``relphot export``
(the command the page shows, run as shown) select the same exposures and
the same observation products."""
from __future__ import annotations

import io
import shlex
import zipfile
from urllib.parse import parse_qsl

import pytest
from selection_fixtures import ISSUE_QUERY, WANTED_EXPOSURES, fill_flagged_store

from dashboard import create_app
from dashboard.pages import exports
from relphot_core.cli import main
from relphot_core.selection import ExposureSelection, parse_selection, select_exposures

@pytest.fixture(scope="module")
def flagged_store(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('sel') / 'flagged.db'}"
    return fill_flagged_store(url), url


@pytest.fixture(scope="module")
def app(flagged_store):
    store, url = flagged_store
    return create_app(store, db_label=url, warm=False)


def commands_shown(node) -> list[str]:
    """The texts of every command block (``<pre class="command">``) in a
    component tree, as a user copies them."""
    if isinstance(node, (list, tuple)):
        return [c for child in node for c in commands_shown(child)]
    if getattr(node, "className", None) == "command":
        return ["".join(text_of(child) for child in node.children)]
    children = getattr(node, "children", None)
    return [] if children is None or isinstance(children, str) else commands_shown(children)


def text_of(component) -> str:
    """Every string inside a Dash component tree."""
    if component is None or isinstance(component, (str, int, float)):
        return "" if component is None else str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def component_by_id(node, id_: str):
    """The component of a tree with this id (None if absent)."""
    if isinstance(node, (list, tuple)):
        return next((found for c in node if (found := component_by_id(c, id_)) is not None), None)
    if getattr(node, "id", None) == id_:
        return node
    children = getattr(node, "children", None)
    return None if children is None or isinstance(children, str) else component_by_id(children, id_)


def page_block(app, query: str):
    """The exports page's selection block for a URL query, as the page's
    controls would pass it."""
    params = dict(parse_qsl(query))
    sel = parse_selection(params)
    with app.server.test_request_context("/exports?" + query):
        return exports.selection_block(list(sel.filters), list(sel.statuses), sel.date_from, sel.date_to,
                                       sel.obs, sel.reviewed)


def zip_products(client, query: str) -> list[str]:
    response = client.get("/download/products.zip?" + query)
    assert response.status_code == 200, response.data[:200]
    return sorted(zipfile.ZipFile(io.BytesIO(response.data)).namelist())


def test_the_issue_url_selects_the_same_everywhere(app, flagged_store):
    store, _ = flagged_store
    client = app.server.test_client()
    exposures = client.get("/api/exposures?" + ISSUE_QUERY).get_json()
    observations = client.get("/api/observations?" + ISSUE_QUERY).get_json()
    assert [(e["obs_id"], e["filter"], e["exposure"]) for e in exposures["exposures"]] == WANTED_EXPOSURES
    # the products holding a selected exposure; testing status and review
    # state separately per observation would add 1010 and 1023 NIR_H
    assert [(o["obs_id"], o["filter"]) for o in observations["observations"]] == [(1017, "NIR_J"),
                                                                                  (1020, "NIR_J")]
    block, search = page_block(app, ISSUE_QUERY)
    assert parse_selection(dict(parse_qsl(search[1:]))) == parse_selection(dict(parse_qsl(ISSUE_QUERY)))
    assert " ".join(text_of(component_by_id(block, "exp-count")).split()) == \
        "2 exposures in 2 observation products selected."
    names = zip_products(client, ISSUE_QUERY)
    assert [n[16:22] + n[22:28] for n in names] == ["001017_NIR_J", "001020_NIR_J"]
    # the rule stated once, applied to the whole table, gives the same
    frame = select_exposures(store.exposure_table(), ExposureSelection.from_params(dict(parse_qsl(ISSUE_QUERY))))
    assert [tuple(k) for k in frame[["obs_id", "filter", "exposure"]].values.tolist()] == WANTED_EXPOSURES


@pytest.mark.parametrize("query", [
    ISSUE_QUERY,
    "filter=NIR_H&reviewed=yes",
    "status=OK&from=2025-02-10&to=2025-02-12",      # 'to' keeps its whole day: 1015..1018
    "obs=1003-1011&status=FAIL,WARN",
    "filter=NIR_J,NIR_H&status=WARN,FAIL&reviewed=no&obs=1017",
])
def test_the_command_the_exports_page_shows_exports_what_the_zip_holds(app, query, tmp_path, capsys):
    block, _ = page_block(app, query)
    commands = commands_shown(block)
    command = next(c for c in commands if c.startswith("relphot export"))
    argv = shlex.split(command)
    assert argv[:2] == ["relphot", "export"] and "DIR" in argv
    out = tmp_path / "out"
    assert main([str(out) if a == "DIR" else a for a in argv[1:]]) == 0
    capsys.readouterr()
    written = sorted(p.name for p in out.iterdir())
    client = app.server.test_client()
    assert written == zip_products(client, query)
    count = client.get("/api/observations?" + query).get_json()["count"]
    assert len(written) == count > 0


def test_export_options_select_and_bad_values_stop_with_one_line(flagged_store, tmp_path, capsys):
    _, url = flagged_store
    out = tmp_path / "j"
    assert main(["export", "--db", url, "--out", str(out), "--filter", "NIR_J", "--filter", "NIR_H",
                 "--status", "FAIL", "--reviewed", "no", "--from", "2025-01-29", "--to", "2025-02-11",
                 "--obs", "1000-1020"]) == 0
    # 1004 (2025-01-29, first day included) and 1017 (2025-02-11, last day included)
    assert sorted(p.name[16:28] for p in out.iterdir()) == ["001004_NIR_J", "001017_NIR_J"]
    assert "2 products written" in capsys.readouterr().err
    # the old options still work, together with the new ones
    assert main(["export", "--db", url, "--out", str(tmp_path / "one"), "--obs-id", "1010", "1017",
                 "--filter", "NIR_H", "--status", "WARN"]) == 0
    assert [p.name[16:28] for p in (tmp_path / "one").iterdir()] == ["001010_NIR_H"]
    capsys.readouterr()
    for option, value, fragment in [
        ("--status", "WARN,BAD", "Unknown status 'BAD'"),
        ("--reviewed", "perhaps", "--reviewed must be one of any, yes, no, not 'perhaps'."),
        ("--from", "2025-02-30", "--from must be a date like 2026-03-01, not '2025-02-30'."),
        ("--obs", "10-x", "Observation search '10-x' is not an id"),
        ("--obs", "1050-1001", "--obs 1050-1001 is a reversed range: write the lowest id first, 1001-1050."),
        ("--filter", ",", "Unknown filter '(empty)'"),
    ]:
        target = tmp_path / f"bad{option}"
        assert main(["export", "--db", url, "--out", str(target), option, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("relphot export: error: ") and fragment in err[0], err
        assert not target.exists()  # nothing half-done
    assert main(["export", "--db", url, "--out", str(tmp_path / "e"), "--from", "2025-03-01", "--to",
                 "2025-02-01"]) == 2
    assert "the date range is empty" in capsys.readouterr().err.lower()

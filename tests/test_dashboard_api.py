"""The dashboard without a browser: URL parsing, the JSON API, downloads and
page layouts rendered inside a Flask request context."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import dash
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from dashboard_fixtures import BAD, N_OBS, NODATA, WARN, fill_small_store

from dashboard import create_app
from dashboard.pages import exports, observation, overview, reviews, triage
from dashboard.components import status_counts
from dashboard.data import compact_table
from relphot_core.qc.flags import exposure_flags
from dashboard.query import apply_selection, mjd_to_date, mjd_to_iso, parse_selection
from relphot_core.config import FILTERS
from relphot_core.selection import sorted_nan_last
from relphot_core.status import STATUS_ORDER
from relphot_core.store import Store
from relphot_core.mjd import mjd_to_datetime


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = fill_small_store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'small.db'}")
    return create_app(store, db_label="small.db", warm=False)


@pytest.fixture()
def client(app):
    return app.server.test_client()


def text_of(component) -> str:
    """Every string inside a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


# ------------------------------------------------------------------ selection
def test_parse_selection_round_trip_and_messages():
    sel = parse_selection({"filter": "NIR_J,NIR_H", "status": "fail", "reviewed": "no", "from": "2025-01-02",
                           "to": "2025-02-01", "obs": "1000-1010", "x": "obsid"})
    assert sel.filters == ("NIR_J", "NIR_H") and sel.statuses == ("FAIL",) and not sel.messages
    assert sel.obs_range == (1000, 1010) and sel.mjd_min == 60677.0
    again = parse_selection(dict(p.split("=") for p in sel.to_search()[1:].split("&")))
    assert again == sel
    assert parse_selection({}).to_search() == ""


@pytest.mark.parametrize("params, fragment", [
    ({"filter": "NIR_Q"}, "Unknown filter 'NIR_Q'"),
    ({"status": "BAD"}, "Unknown status 'BAD'"),
    ({"from": "2025-13-45"}, "must be a date"),
    ({"from": "1850-01-01"}, "outside 2000-2100"),
    ({"from": "2025-03-01", "to": "2025-01-01"}, "date range is empty"),
    ({"obs": "<script>"}, "is not an id"),
    ({"reviewed": "maybe"}, "'reviewed' must be"),
    ({"x": "ra"}, "'x' must be"),
    ({"filter": "NIR_J", "trend": "NIR_H"}, "'trend' must be one of the selected filters"),
])
def test_parse_selection_never_raises(params, fragment):
    sel = parse_selection(params)
    assert any(fragment in m for m in sel.messages)
    assert sel.filters and sel.statuses  # falls back to everything


def test_apply_selection(app):
    with app.server.test_request_context("/"):
        frame = app.server.config["RELPHOT_CACHE"].trend("NIR_J")
    assert len(frame) == 4 * N_OBS
    assert len(apply_selection(frame, parse_selection({"status": "FAIL"}))) == 1
    assert len(apply_selection(frame, parse_selection({"obs": "1017"}))) == 4
    assert len(apply_selection(frame, parse_selection({"from": "2025-01-25", "to": "2025-01-25"}))) == 4


def _random_table(seed: int, n: int, nan_fraction: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mjd = rng.uniform(60000, 60400, n)
    mjd[rng.random(n) < nan_fraction] = np.nan
    decision = rng.choice(np.array(["confirmed", "overruled", None], dtype=object), n, p=[0.1, 0.1, 0.8])
    return pd.DataFrame({
        "obs_id": rng.integers(1, 300, n), "filter": "NIR_J", "exposure": rng.integers(1, 5, n), "mjd_obs": mjd,
        "value": rng.normal(1, 0.01, n), "status": rng.choice(["OK", "WARN", "FAIL", "NODATA"], n),
        "review_decision": decision, "reviewed": pd.Series(decision).notna().astype(object).where(
            rng.random(n) < 0.9, None), "flag": rng.random(n) < 0.02})


def _reference_selection(df: pd.DataFrame, sel) -> pd.DataFrame:
    """The selection as plain masks, row by row (the slow, obvious way)."""
    keep = []
    low, high, rng = sel.mjd_min, sel.mjd_max, sel.obs_range
    for row in df.itertuples():
        reviewed = row.reviewed is True
        keep.append(row.status in sel.statuses
                    and (low is None or row.mjd_obs >= low) and (high is None or row.mjd_obs < high)
                    and (sel.reviewed == "any" or reviewed == (sel.reviewed == "yes"))
                    and (rng is None or rng[0] <= row.obs_id <= rng[1]))
    return df[np.array(keep, dtype=bool)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), day_from=st.one_of(st.none(), st.integers(0, 420)),
       days=st.one_of(st.none(), st.integers(0, 200)), statuses=st.sets(st.sampled_from(STATUS_ORDER), min_size=1),
       reviewed=st.sampled_from(["any", "yes", "no"]), obs=st.one_of(st.none(), st.just("50-150")),
       nan_fraction=st.sampled_from([0.0, 0.05]))
def test_apply_selection_on_cached_table_matches_plain_masks(seed, day_from, days, statuses, reviewed, obs,
                                                              nan_fraction):
    raw = _random_table(seed, 400, nan_fraction)
    cached = compact_table(raw)
    assert sorted_nan_last(cached["mjd_obs"].to_numpy())  # the binary-search path is the one tested
    n_nan = int(raw["mjd_obs"].isna().sum())
    assert cached["mjd_obs"].iloc[:len(cached) - n_nan].is_monotonic_increasing  # sorted, NaN last
    assert cached["mjd_obs"].iloc[len(cached) - n_nan:].isna().all() and len(cached) == len(raw)
    start = None if day_from is None else mjd_to_date(60000 + day_from - 10)
    stop = None if days is None or day_from is None else mjd_to_date(60000 + day_from - 10 + days)
    sel = parse_selection({"status": ",".join(statuses), "reviewed": reviewed, "obs": obs, "from": start,
                           "to": stop})
    got = apply_selection(cached, sel)
    want = _reference_selection(raw, sel)
    key = ["obs_id", "exposure", "mjd_obs", "value"]
    assert sorted(map(tuple, got[key].fillna(-1).to_numpy().tolist())) == \
        sorted(map(tuple, want[key].fillna(-1).to_numpy().tolist()))


def test_mjd_to_iso_never_raises():
    assert mjd_to_iso(np.array([60000.5, np.nan, np.inf, 1e9])) == ["2023-02-25T12:00:00", "", "", ""]


def test_status_counts_dense_and_sparse_ids_agree():
    frame = _random_table(3, 2000)
    dense = status_counts(frame)
    sparse = status_counts(frame.assign(obs_id=frame["obs_id"] * 10**9))
    assert dense == sparse
    by_status = frame.groupby("status")["obs_id"]
    assert dense[0] == by_status.size().to_dict()
    assert dense[1] == by_status.nunique().to_dict()
    assert dense[2] == frame["obs_id"].nunique()
    # one outlying id in a small frame: counted by hashing, not a 10-million-bin bincount
    outlier = pd.DataFrame({"obs_id": [*range(100), 9_999_999], "status": ["OK"] * 100 + ["FAIL"]})
    assert status_counts(outlier) == ({"FAIL": 1, "OK": 100}, {"FAIL": 1, "OK": 100}, 101)


# ------------------------------------------------------------------ JSON API
def test_api_observations_and_exposures(client):
    data = client.get("/api/observations").get_json()
    assert data["count"] == 3 * N_OBS
    fails = client.get("/api/observations?status=FAIL").get_json()["observations"]
    assert [(o["obs_id"], o["filter"]) for o in fails] == [BAD[:2]]
    exps = client.get(f"/api/exposures?filter={BAD[1]}&obs={BAD[0]}").get_json()
    assert exps["count"] == 4
    bad = next(e for e in exps["exposures"] if e["exposure"] == BAD[2])
    assert bad["status"] == "FAIL" and bad["value"] == pytest.approx(0.97)
    assert "reviewed_at" in bad and bad["reviewed_at"] is None  # not reviewed: null, never "NaT"
    nodata = client.get(f"/api/exposures?filter={NODATA[1]}&status=NODATA").get_json()["exposures"]
    assert nodata[0]["value"] is None  # never a made-up 1.0
    assert client.get("/api/exposures?limit=5").get_json()["count"] == 5
    # as /api/exposures: the total selected and whether the rows were cut at the limit
    assert (data["total"], data["truncated"]) == (3 * N_OBS, False)
    cut = client.get("/api/observations?limit=5").get_json()
    assert (cut["count"], cut["total"], cut["truncated"]) == (5, 3 * N_OBS, True)
    assert [o["obs_id"] for o in cut["observations"]] == [o["obs_id"] for o in data["observations"][:5]]
    one = client.get("/api/observations?status=FAIL&limit=1").get_json()
    assert (one["count"], one["total"], one["truncated"]) == (1, 1, False)


def test_api_observation_detail(client):
    detail = client.get(f"/api/observation/{BAD[0]}").get_json()
    assert set(detail["filters"]) == {"NIR_Y", "NIR_J", "NIR_H"}
    j = detail["filters"]["NIR_J"]
    assert len(j["exposures"]) == 4 and len(j["pairs"]) == 6 and len(j["detectors"]) == 64
    assert j["runs"][0]["current"] is True
    one = client.get(f"/api/observation/{BAD[0]}?filter=NIR_H").get_json()
    assert list(one["filters"]) == ["NIR_H"]


@pytest.mark.parametrize("url, status, fragment", [
    ("/api/observation/99999", 404, "not found"),
    ("/api/observation/abc", 400, "not an observation id"),
    ("/api/observation/1000?filter=NIR_Q", 400, "unknown filter"),
    ("/api/observations?from=2025-05-01&to=2025-01-01", 400, "date range is empty"),
    ("/api/exposures?limit=-3", 400, "limit"),
    ("/api/exposures?status=<b>x</b>", 400, "Unknown status"),
    # a misspelt parameter would otherwise select everything
    ("/api/exposures?staus=FAIL", 400, "unknown parameter 'staus' (choose among filter, status,"),
    ("/api/observations?obs=1050-1001", 400, "'obs' 1050-1001 is a reversed range"),
    ("/download/products.zip?filtre=NIR_J", 400, "unknown parameter 'filtre'"),
    ("/download/exposures.csv?reviewed=maybe", 400, "'reviewed' must be one of any, yes, no, not 'maybe'."),
    ("/api/failures?filtre=NIR_J", 400, "unknown parameter 'filtre' (choose among all, obs, filter)."),
    ("/api/observation/1000?filters=NIR_J", 400, "unknown parameter 'filters' (choose among filter)."),
    ("/download/product/1000/NIR_J.xml?rnu=1", 400, "unknown parameter 'rnu' (choose among run)."),
    ("/download/product/99999/NIR_J.xml", 404, "not found"),
    ("/download/product/1000/NIR_Q.xml", 400, "use /download"),
])
def test_api_errors_are_clear(client, url, status, fragment):
    response = client.get(url)
    assert response.status_code == status
    assert fragment in response.get_json()["error"]


# ------------------------------------------------------------------ downloads
def test_download_product_validates(client, tmp_path):
    from relphot_core.products import read_product

    response = client.get(f"/download/product/{BAD[0]}/{BAD[1]}.xml")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    path = tmp_path / "product.xml"
    path.write_bytes(response.data)
    result = read_product(path)
    assert result.obs_id == BAD[0] and result.exposure(BAD[2]).status == "FAIL"


def test_download_zip_csv_votable(client, tmp_path):
    from astropy.table import Table

    response = client.get("/download/products.zip?filter=NIR_J&obs=1010-1014")
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert len(names) == 5 and all("NIR_J" in n for n in names)
    rows = list(csv.DictReader(io.StringIO(client.get("/download/exposures.csv?status=FAIL").data.decode())))
    assert [(int(r["obs_id"]), r["filter"], int(r["exposure"])) for r in rows] == [BAD]
    path = tmp_path / "t.vot"
    path.write_bytes(client.get("/download/exposures.vot?filter=NIR_Y").data)
    table = Table.read(path, format="votable")
    assert len(table) == 4 * N_OBS and "value" in table.colnames


# ------------------------------------------------------------------ layouts
def test_layouts_render_and_explain(app):
    with app.server.test_request_context("/"):
        page = text_of(overview.layout(filter="NIR_Q", **{"from": "2030-99-01"}))
        assert "Unknown filter 'NIR_Q'" in page and "must be a date" in page
        assert "not found" in text_of(observation.layout(obs_id="99999")).lower()
        assert "not an observation id" in text_of(observation.layout(obs_id="<script>"))
        obs = text_of(observation.layout(obs_id=str(BAD[0]), filter="NIR_J"))
        assert f"Observation {BAD[0]}" in obs and "Processing runs" in obs
        assert "Unknown filter" in text_of(observation.layout(obs_id=str(BAD[0]), filter="X"))
        assert "await review" in text_of(triage.layout())
        assert "No review yet" in text_of(reviews.layout())
        assert "One observation" in text_of(exports.layout())
        # the export selection follows the review state too
        everything, search = exports.selection_block(list(FILTERS), None, None, None, None, "any")
        assert " ".join(text_of(everything).split()).startswith(f"{3 * N_OBS * 4:,} exposures")
        assert "reviewed" not in search
        nothing, search = exports.selection_block(list(FILTERS), None, None, None, None, "yes")
        assert " ".join(text_of(nothing).split()).startswith("0 exposures") and "reviewed=yes" in search
        assert "relphot export --db small.db --out DIR --reviewed yes" in " ".join(text_of(nothing).split())


def test_empty_store_pages(tmp_path):
    app = create_app(Store.open(f"sqlite:///{tmp_path / 'empty.db'}"), warm=False)
    with app.server.test_request_context("/"):
        for page in (overview, triage, reviews, exports):
            assert "The store is empty" in text_of(page.layout())
        assert "The store is empty" in text_of(observation.layout(obs_id="1"))
    client = app.server.test_client()
    assert client.get("/api/observations").get_json() == {"count": 0, "total": 0, "truncated": False,
                                                          "observations": []}


def test_overview_callback_counts(app):
    with app.server.test_request_context("/"):
        out = overview.update(["NIR_J"], ["FAIL", "WARN"], "any", "", "", "", "time", "NIR_Y")
    _messages, _counts, fj, options, value, search, _, drawn = out
    assert search == "?filter=NIR_J&status=WARN,FAIL"
    # the tab of a filter just unticked falls back to the first selected one
    assert options == [{"label": "NIR_J", "value": "NIR_J", "disabled": False}] and value == "NIR_J"
    assert "NIR_J" in fj["layout"]["title"]["text"]
    fail = next(t for t in fj["data"] if t["name"].startswith("FAIL"))
    assert fail["customdata"] == [[BAD[0], "NIR_J"]]
    assert fail["y"]["dtype"] == "f4"  # typed arrays, as plotly.py sends them
    assert any(t.get("xaxis") == "x2" for t in fj["data"])  # the marginal distribution
    assert json.dumps(fj, default=str)
    # another filter ticked: the J trend is not rebuilt nor sent, the counts are
    with app.server.test_request_context("/"):
        again = overview.update(["NIR_J", "NIR_H"], ["FAIL", "WARN"], "any", "", "", "", "time", "NIR_J", None, None,
                                drawn)
    assert again[2] is dash.no_update and again[4] is dash.no_update and again[1] is not dash.no_update
    assert again[5] == "?filter=NIR_J,NIR_H&status=WARN,FAIL"
    # another tab: only the trend is sent, and the URL names the tab
    with app.server.test_request_context("/"):
        tab = overview.update(["NIR_J", "NIR_H"], ["FAIL", "WARN"], "any", "", "", "", "time", "NIR_H",
                              None, None, again[-1])
    assert "NIR_H" in tab[2]["layout"]["title"]["text"] and tab[1] is dash.no_update
    assert tab[5] == "?filter=NIR_J,NIR_H&status=WARN,FAIL&trend=NIR_H"
    # no filter ticked means all of them: the chosen tab stays
    with app.server.test_request_context("/"):
        none = overview.update([], ["FAIL", "WARN"], "any", "", "", "", "time", "NIR_J")
    assert none[4] is dash.no_update and "NIR_J" in none[2]["layout"]["title"]["text"]
    assert "No filter selected" in str(none[0])


@pytest.mark.parametrize("params", [
    {"statuses": ["FAIL", "WARN"], "reviewed": "any", "date_from": "", "obs": ""},
    {"statuses": [s.value for s in STATUS_ORDER], "reviewed": "no", "date_from": "2025-01-26", "obs": ""},
    {"statuses": ["OK"], "reviewed": "any", "date_from": "", "obs": "1005-1030"},
])
def test_overview_counts_match_plain_counting_cached_or_not(app, params):
    # the counts are made from the selected rows' codes (no copy of the
    # table): the same with the cached (categorical) tables and without
    store = app.server.config["RELPHOT_STORE"]
    uncached = create_app(store, cache_ttl=0, warm=False)
    args = (list(FILTERS), params["statuses"], params["reviewed"], params["date_from"], "", params["obs"], "time",
            "NIR_J")
    tables = []
    for each in (app, uncached):
        with each.server.test_request_context("/"):
            tables.append(text_of(overview.update(*args)[1]))
    assert tables[0] == tables[1]
    sel = parse_selection({"status": ",".join(params["statuses"]), "reviewed": params["reviewed"],
                           "from": params["date_from"] or None, "obs": params["obs"] or None})
    for name in FILTERS:
        rows = apply_selection(store.trend(name), sel, statuses=False)
        flagged = rows[exposure_flags(rows)["flag"].to_numpy(dtype=bool)]
        cells = [rows[rows["status"] == status] for status in STATUS_ORDER] + [flagged, rows]
        row = " ".join(f"{len(cell):,}  exp · {cell['obs_id'].nunique():,} obs" for cell in cells)
        assert f"{name} {row}" in tables[0]


def test_click_on_light_points_finds_the_observation(app):
    with app.server.test_request_context("/"):
        frame = app.server.config["RELPHOT_CACHE"].trend(BAD[1])
        row = frame[frame["obs_id"] == BAD[0]].iloc[0]
        # a WebGL point without customdata: its date on the date axis, as plotly.js gives it
        when = mjd_to_datetime(float(row["mjd_obs"])).strftime("%Y-%m-%d %H:%M:%S.%f")[:-2]
        assert overview.obs_from_point(BAD[1], {"x": when, "y": 1.0}) == BAD[0]
        assert overview.obs_from_point(BAD[1], {"x": "2001-01-01 00:00", "y": 1.0}) is None
        assert overview.obs_from_point(BAD[1], {"x": BAD[0], "y": 1.0}) == BAD[0]  # x = obs id
        assert overview.obs_from_point(BAD[1], {"customdata": BAD[0]}) == BAD[0]
        assert overview.obs_from_point(BAD[1], {"x": "x", "customdata": [BAD[0], 60000.5]}) == BAD[0]  # light
        # a click on a point drawn before a tab change opens the point's filter, not the new tab's
        click = {"points": [{"x": 1.0, "y": 0.97, "customdata": [BAD[0], BAD[1]]}]}
        assert overview.open_observation(click, "NIR_H") == f"/observation/{BAD[0]}?filter={BAD[1]}"
        assert overview.obs_from_point(BAD[1], {"x": 12.5}) is None  # a binned envelope


def test_reversed_obs_range_is_read_lowest_first_and_said():
    sel = parse_selection({"obs": "1100-1050"})
    assert sel.obs == "1050-1100" and sel.obs_range == (1050, 1100)
    assert any("lowest id first" in m for m in sel.messages)
    assert not parse_selection({"obs": "1050-1100"}).messages


def test_mjd_to_iso_truncates_to_the_second_like_date_obs():
    # DATE-OBS 2025-02-08T13:56:03.503 shows as 13:56:03 on every page
    mjd = 60714.0 + (13 * 3600 + 56 * 60 + 3.503) / 86400
    assert mjd_to_iso(np.array([mjd])) == ["2025-02-08T13:56:03"]
    # a whole second stored as a float a hair below it is still that second
    assert mjd_to_iso(np.array([60714.0 + 50403 / 86400 - 1e-11])) == ["2025-02-08T14:00:03"]


@pytest.mark.parametrize("path, method, status", [
    ("/observation/99999", "GET", 404),
    ("/observation/99999", "HEAD", 404),
    ("/observation/%C2%B2", "GET", 404),          # a Unicode digit is not an id (and no 500)
    (f"/observation/{BAD[0]}", "GET", 200),
    (f"/observation/{BAD[0]}?filter={BAD[1]}&run=999999", "GET", 404),
    ("/nowhere", "HEAD", 404),
    ("/triage", "GET", 200),
    ("/_dash-layout", "GET", 200),
    ("/api/observation/%C2%B2", "GET", 400),
])
def test_unknown_addresses_get_404_and_never_500(client, path, method, status):
    response = client.open(path, method=method)
    assert response.status_code == status


# ------------------------------------------------------- processing failures
def test_failures_in_the_api_the_triage_queue_and_the_observation_page(tmp_path):
    from relphot_core.inputs import SetFailure

    store = fill_small_store(f"sqlite:///{tmp_path / 'failures.db'}")
    obs, band, _ = BAD
    store.record_failure(SetFailure(kind="unreadable catalogue", path="/data/cats/obs_D2.cat.fits",
                                    reason="file truncated: HDU 31 ends beyond the end of the file",
                                    obs_id=obs, filter=band, files=("/data/cats/obs_D1.cat.fits",
                                                                    "/data/cats/obs_D2.cat.fits")), "p")
    store.record_failure(SetFailure(kind="unreadable catalogue", path="/data/cats/junk.cat.fits",
                                    reason="not a FITS file (no SIMPLE card at the start)"), "p")
    store.update_problems()  # what relphot compute --db does after its batch
    app = create_app(store, db_label="failures.db", warm=False)
    client = app.server.test_client()
    body = client.get("/api/failures").get_json()
    assert body["count"] == 2
    first = next(f for f in body["failures"] if f["obs_id"] == obs)
    assert first["filter"] == band and first["kind"] == "unreadable catalogue"
    assert first["files"] == ["/data/cats/obs_D1.cat.fits", "/data/cats/obs_D2.cat.fits"]
    assert first["resolved"] is None and first["attempts"] == 1 and first["created"].startswith("20")
    assert client.get(f"/api/failures?obs={obs}&filter={band}").get_json()["count"] == 1
    assert client.get("/api/failures?obs=x").status_code == 400
    assert client.get("/api/failures?filter=NIR_Q").status_code == 400
    assert client.get("/api/health").get_json()["open_failures"] == 2
    with app.server.test_request_context("/"):
        page = text_of(triage.layout())
        assert "5 problems await review" in page  # the 3 exposures and the 2 failed sets
        failed = [r for r in triage.problem_rows(store.problems(awaiting=True)) if r["kind"] == "failure"]
        assert len(failed) == 2 and all("could not be processed" in r["reason"] for r in failed)
        reasons = " ".join(r["reason"] for r in failed)
        assert "obs_D2.cat.fits" in reasons and "no SIMPLE card" in reasons
        assert "could not be processed (unreadable catalogue" in text_of(triage.detail(failed[0]["id"]))
        detail = text_of(observation.layout(obs_id=str(obs), filter=band))
        assert "Processing failure (unreadable catalogue" in detail and "HDU 31 ends beyond" in detail
        assert "Processing failure" not in text_of(observation.layout(obs_id=str(obs), filter="NIR_Y"))


def test_trend_by_dither_draws_a_running_median_per_dither(app):
    with app.server.test_request_context("/"):
        out = overview.update(["NIR_J"], [s.value for s in STATUS_ORDER], "any", "", "", "", "time", "NIR_J", "dither")
    names = [trace.get("name") for trace in out[2]["data"]]
    assert [n for n in names if n and n.endswith("median")] == [f"dither {d} median" for d in (1, 2, 3, 4)]
    assert "running median" not in names and out[5].endswith("by=dither")
    assert parse_selection({"by": "colour"}).messages == ("'by' must be 'status' or 'dither', not 'colour'; ignored.",)


def test_overview_opens_on_the_filter_that_needs_attention(tmp_path):
    from relphot_core.testing.synth import make_result

    store = Store.open(f"sqlite:///{tmp_path / 'j_only.db'}")
    store.save_results([make_result(i, "NIR_J", values=[1.0, 1.0, 1.0, 0.97 if i == 3 else 1.0],
                                    mjd_start=60000.0 + i) for i in range(1, 6)])
    app = create_app(store, warm=False)
    with app.server.test_request_context("/"):
        page = overview.layout()
        tabs = next(c for c in _walk(page) if getattr(c, "id", None) == "ov-trend")
        assert tabs.value == "NIR_J"  # not the empty NIR_Y
        assert {o["value"]: o["disabled"] for o in tabs.options} == {"NIR_Y": True, "NIR_J": False, "NIR_H": True}
        assert [o["label"] for o in tabs.options] == ["NIR_Y (no data)", "NIR_J", "NIR_H (no data)"]
        assert "No exposures of NIR_Y" not in text_of(page)


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            yield from _walk(child)
    elif children is not None and not isinstance(children, (str, int, float)):
        yield from _walk(children)


def test_an_extreme_factor_is_pinned_at_the_edge_not_squashing_the_others():
    from dashboard.figures.trends import trend_spec

    rows = pd.DataFrame({"obs_id": np.arange(1000, 1120), "exposure": 1, "mjd_obs": 60000.0 + np.arange(120),
                         "value": np.r_[1.0 + 0.002 * np.sin(np.arange(119)), 0.60],
                         "error": 0.001, "status": ["OK"] * 119 + ["FAIL"]})
    traces, layout = trend_spec(rows, warn=0.005, fail=0.015)
    low, high = layout["yaxis"]["range"]
    assert low > 0.93 and high < 1.07  # robust: 1 +- 4 x FAIL at most
    pinned = next(t for t in traces if str(t.get("name", "")).startswith("off scale"))
    assert pinned["text"] == ["0.600"] and pinned["marker"]["symbol"] == ["triangle-down"]
    fail = next(t for t in traces if str(t.get("name", "")).startswith("FAIL"))
    assert low < float(fail["y"][0]) < low + 0.01 * (high - low) + 0.01
    _, fitted = trend_spec(rows, warn=0.005, fail=0.015, fit_all=True)
    assert fitted["yaxis"]["range"][0] < 0.6


def test_zip_api_and_exports_page_select_the_same_observations(tmp_path):
    from relphot_core.testing.synth import make_result

    store = Store.open(f"sqlite:///{tmp_path / 'sel.db'}")
    # obs 1: a WARN (reviewed below) and OKs; obs 2: a FAIL not reviewed; obs 3: all OK
    store.save_results([make_result(1, values=[1.008, 1.0, 1.0, 1.0], mjd_start=60000.0),
                        make_result(2, values=[0.97, 1.0, 1.0, 1.0], mjd_start=60001.0),
                        make_result(3, values=[1.0, 1.0, 1.0, 1.0], mjd_start=60002.0)])
    store.add_reviews([(1, "NIR_J", 1)], "confirmed", "ann", "")
    app = create_app(store, warm=False)
    client = app.server.test_client()
    query = "filter=NIR_J&status=WARN,FAIL&reviewed=no"
    exposures = client.get(f"/api/exposures?{query}").get_json()
    observations = client.get(f"/api/observations?{query}").get_json()
    assert exposures["count"] == 1 and observations["count"] == 1
    assert observations["observations"][0]["obs_id"] == 2
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/download/products.zip?{query}").data))
    assert len(archive.namelist()) == 1 and "_000002_NIR_J_" in archive.namelist()[0]
    with app.server.test_request_context("/"):
        text = text_of(exports.selection_block(["NIR_J"], ["WARN", "FAIL"], None, None, None, "no"))
    assert " ".join(text.split()).startswith("1 exposure in 1 observation product selected")


def test_the_observation_page_opens_on_the_pair_of_the_bad_exposure():
    from relphot_core.results import PairStat
    from relphot_core.testing.synth import make_result

    result = make_result(7, values=[1.0, 1.0, 0.97, 1.0])
    result.pairs = [PairStat(a, b, 0.0333 if 3 in (a, b) else 0.001, 0.0005, 0.02, 500, 480, 20, -0.06, 0.06, True)
                    for a, b in ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))]
    assert observation.default_pair(result) == "1-3"
    result.pairs = []
    assert observation.default_pair(result) is None


def test_exports_carry_the_review_and_drop_it_once_revoked(tmp_path):
    from relphot_core.testing.synth import make_result

    store = Store.open(f"sqlite:///{tmp_path / 'rev.db'}")
    store.save_results([make_result(2, values=[0.97, 1.0, 1.0, 1.0], mjd_start=60001.0)])
    batch = store.add_reviews([(2, "NIR_J", 1)], "confirmed", "ann", "streak", cause="satellite trail")
    client = create_app(store, warm=False).server.test_client()

    def exported() -> tuple[dict, dict, bytes]:
        row = next(r for r in client.get("/api/exposures?filter=NIR_J").get_json()["exposures"] if r["exposure"] == 1)
        text = client.get("/download/exposures.csv?filter=NIR_J").data.decode()
        csv_row = next(r for r in csv.DictReader(io.StringIO(text)) if r["exposure"] == "1")
        archive = zipfile.ZipFile(io.BytesIO(client.get("/download/products.zip?filter=NIR_J").data))
        return row, csv_row, archive.read(archive.namelist()[0])

    row, csv_row, product = exported()
    assert (row["review_decision"], row["reviewer"], row["review_cause"]) == ("confirmed", "ann", "satellite trail")
    assert (csv_row["review_decision"], csv_row["review_cause"]) == ("confirmed", "satellite trail")
    assert b'reviewDecision="confirmed"' in product and b'reviewCause="satellite trail"' in product
    single = client.get("/download/product/2/NIR_J.xml").data
    assert b'reviewer="ann"' in single
    detail = client.get("/api/observation/2?filter=NIR_J").get_json()
    assert detail["filters"]["NIR_J"]["reviews"][0]["batch_id"] == batch
    store.revoke_review_batch(batch, "bob")
    row, csv_row, product = exported()
    assert row["review_decision"] is None and row["review_cause"] is None and csv_row["review_decision"] == ""
    assert b"reviewDecision" not in product
    detail = client.get("/api/observation/2?filter=NIR_J").get_json()
    assert detail["filters"]["NIR_J"]["reviews"][0]["revoked_by"] == "bob"  # kept in the audit trail


def test_mjd_to_date_is_the_packages_one_conversion():
    from relphot_core.mjd import mjd_to_day

    for mjd in (60700.0, 60700.999999, 60707.0 - 1e-9, 51544.5):
        assert mjd_to_date(mjd) == mjd_to_day(mjd)
    assert mjd_to_date(60700.0) == "2025-01-25" and mjd_to_date(float("nan")) == ""  # no NaT error


# ------------------------------------------------------------------ problems
def test_problems_routes_list_filter_and_show(client):
    body = client.get("/api/problems").get_json()
    assert body["count"] == 3 and {p["kind"] for p in body["problems"]} == {"exposure"}
    worst = body["problems"][0]
    assert (worst["subject"], worst["worst_status"], worst["state"]) == (f"obs {BAD[0]} dither {BAD[2]}", "FAIL",
                                                                         "open")
    assert isinstance(worst["id"], int) and worst["n_awaiting"] == 1
    assert client.get("/api/problems?filter=NIR_H").get_json()["count"] == 1
    assert client.get("/api/problems?state=resolved").get_json()["count"] == 0
    assert client.get("/api/problems?kind=drift").get_json()["count"] == 0
    for bad in ("filter=NIR_Q", "state=done", "kind=x", "awaiting=2", "colour=red"):
        assert client.get(f"/api/problems?{bad}").status_code == 400, bad
    detail = client.get(f"/api/problems/{worst['id']}").get_json()
    assert detail["problem"]["reason"].startswith(f"exposure {BAD[0]} dither {BAD[2]}: FAIL")
    assert [(e["obs_id"], e["exposure"], e["role"]) for e in detail["exposures"]] == [(BAD[0], BAD[2], "primary")]
    assert [e["event"] for e in detail["events"]] == ["opened"]
    assert client.get("/api/problems/99999").status_code == 404
    assert client.get("/api/problems/abc").status_code == 400


def test_exposure_routes_carry_the_flags_and_select_by_them(client):
    body = client.get("/api/exposures?filter=NIR_J&limit=5").get_json()
    assert body["count"] == 5 and body["total"] == 120 and body["truncated"] is True
    assert {"flags", "alarm", "alarm_reason", "drift_since", "problem_id", "problem_kind"} <= set(body["exposures"][0])
    flagged = client.get("/api/exposures?flagged=1").get_json()
    keys = {(e["obs_id"], e["filter"], e["exposure"]) for e in flagged["exposures"]}
    assert keys == {BAD, WARN, NODATA} and flagged["truncated"] is False
    bad = next(e for e in flagged["exposures"] if (e["obs_id"], e["filter"], e["exposure"]) == BAD)
    assert bad["flags"] & 1 and bad["problem_kind"] == "exposure" and isinstance(bad["problem_id"], int)
    assert client.get("/api/exposures?awaiting=1").get_json()["count"] == 3
    assert client.get("/api/exposures?flagged=0&filter=NIR_J").get_json()["total"] == 119
    assert client.get("/api/exposures?flagged=yes").status_code == 400
    csv = client.get("/download/exposures.csv?flagged=1").data.decode().splitlines()
    assert "problem_id" in csv[0] and "alarm_reason" in csv[0] and len(csv) == 4
    vot = client.get("/download/exposures.vot?awaiting=1").data.decode()
    assert 'name="problem_kind"' in vot and 'name="flags"' in vot


@pytest.mark.parametrize("path, known", [
    ("/", "filter, status, reviewed, from, to, obs, x, trend, by, yrange"),
    ("/exports", "filter, status, reviewed, from, to, obs, x, trend, by, yrange"),
    (f"/observation/{BAD[0]}", "filter, run, back"),
    ("/observations", "filter, worst, cell"),
    ("/sky", "filter, colour"),
    ("/detectors", "filter, detector, from, to, show"),
    ("/compare", "before, after, filter"),
    ("/reviews", "q"),
    ("/triage", "view, filter, problem, since"),
    ("/news", "since"),
])
def test_pages_name_the_url_parameters_they_do_not_read(app, path, known):
    """A page says which URL parameter it ignores (the API refuses it with
    a 400), and still shows what it would without it."""
    from dashboard.pages import compare, detectors, news, observations, sky

    page = {"/": overview, "/exports": exports, "/observations": observations, "/sky": sky,
            "/detectors": detectors, "/compare": compare, "/reviews": reviews, "/triage": triage, "/news": news}
    params = {"statsu": "FAIL"}
    with app.server.test_request_context(path + "?statsu=FAIL"):
        if path.startswith("/observation/"):
            text = text_of(observation.layout(obs_id=str(BAD[0]), **params))
        else:
            text = text_of(page[path].layout(**params))
    assert f"Unknown URL parameter 'statsu' (this page reads {known}); ignored." in " ".join(text.split())
    with app.server.test_request_context(path):
        clean = text_of(observation.layout(obs_id=str(BAD[0])) if path.startswith("/observation/")
                        else page[path].layout())
    assert "Unknown URL parameter" not in clean
    assert app.server.test_client().get("/api/exposures?statsu=FAIL").status_code == 400

"""The run report (``report.html``): one self-contained page per run folder, its figures the run
summary's, its plots inline SVG drawn to scale, nothing loaded from the network, text escaped; drawn
again with the results after a reconcile. One demo run for the module (then reconciled), one dry run,
one validate run; the browser test drives Debian's headless Chromium through Selenium."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tfclaims.core import run_files
from tfclaims.core.config import DEMO_REFERENCE_KEY, CouncilConfig
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.options import ClaimOptions, DemoOptions, ReconcileOptions, ValidateOptions
from tfclaims.pipeline import claim, demo, reconcile, validate
from tfclaims.report import CSP, build_report
from ledger_helpers import answer_spot_check

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SECTIONS = ("funnel", "routes", "windows", "headlines", "blocking", "validation", "link", "spot-check")


def _summary(folder: Path) -> dict:
    return json.loads((folder / run_files.RUN_SUMMARY_JSON).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The demo (a claim run of the sample cohort, with its spot check), its page kept, then reconciled
    with one invalid verdict; a dry run and a validate run of the sample cohort."""
    base = tmp_path_factory.mktemp("report")
    out = base / "demo"
    demo(DemoOptions.of(out=out, operator="Jo Analyst"))
    before = {"html": (out / run_files.REPORT_HTML).read_text(encoding="utf-8"), "summary": _summary(out)}
    kept = base / "kept"
    kept.mkdir()
    (kept / run_files.REPORT_HTML).write_text(before["html"], encoding="utf-8")

    invalid = answer_spot_check(out / "spot_check.xlsx")
    reconcile(ReconcileOptions.of(verdicts=out / "spot_check.xlsx", ledger=str(out / "ledger.sqlite"), out=base / "reconciled",
                                  council=CouncilConfig(reference_key=DEMO_REFERENCE_KEY), audit=out / "audit.jsonl", operator="R. Officer"))
    after = {"html": (out / run_files.REPORT_HTML).read_text(encoding="utf-8"), "summary": _summary(out)}

    dry = base / "dry"
    claim(ClaimOptions.of(input=SAMPLE_COHORT_DIR, out=dry, audit=base / "audit.jsonl", period_end=dt.date(2020, 3, 31), dry_run=True,
                          council=CouncilConfig(reference_key="k", council_name="Test County Council")))
    checked = base / "validate"
    validate(ValidateOptions.of(input=SAMPLE_COHORT_DIR, out=checked, audit=base / "audit.jsonl"))
    return {"out": out, "kept": kept, "before": before, "after": after, "invalid": invalid,
            "dry": {"html": (dry / run_files.REPORT_HTML).read_text(encoding="utf-8"), "summary": _summary(dry)},
            "validate": {"html": (checked / run_files.REPORT_HTML).read_text(encoding="utf-8"), "summary": _summary(checked)}}


def _section(page: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}".*?</section>', page, re.S)
    assert m, f"no section {anchor}"
    return m.group(0)


def _cell_text(fragment: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", fragment, flags=re.S))


# ----------------------------------------------------------------------------------------------
# the page of a claim run


def test_the_claim_runs_page_holds_every_section_with_the_run_summarys_figures(runs):
    page, s = runs["before"]["html"], runs["before"]["summary"]
    for anchor in SECTIONS:
        _section(page, anchor)
    assert "csv-only" not in page  # no table was too big: the section is left out
    routes = _cell_text(_section(page, "routes"))
    pounds = f"£{float(s['amount_gbp']):,.2f}"
    assert f"{s['claims']} claims for {pounds}" in routes
    total = re.search(r"<tfoot>(.*?)</tfoot>", _section(page, "routes"), re.S).group(1)
    assert re.findall(r">([^<]+)</t[dh]>", total) == ["Total", str(s["claims"]), pounds]
    for x in s["finance_summary"]["routes"]:
        assert x["route"] in routes and f"£{x['amount_pence'] / 100:,.2f}" in routes
    f = s["report"]["funnel"]
    funnel = _cell_text(_section(page, "funnel"))
    assert f"Of {f['register']} families in the programme register, {f['attached']} were attached" in funnel
    assert f["claimed"] == s["claims"] and s["decisions"]["claim:claimed"] == s["claims"]
    attached = sum(n for k, n in s["decisions"].items() if k != "no_claim:not_attached")
    assert f["attached"] == attached and f"Of {attached} attached families" in _cell_text(_section(page, "headlines"))
    validation = _cell_text(_section(page, "validation"))
    read = sum(t["read"] for t in s["tables"].values())
    assert f"Of {read:,} rows read from {len(s['tables'])} tables" in validation
    spot = _section(page, "spot-check")
    for ref in s["spot_check"]["references"]:
        assert ref["claim_reference"] in spot
    assert "Not reconciled yet" in spot
    windows = _cell_text(_section(page, "windows"))
    assert f"Claims to date are {s['claims']}" in windows and "no allocation is set" in windows


def test_the_page_is_self_contained_and_its_plots_are_inline_svg(runs):
    page = runs["before"]["html"]
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP.replace(chr(39), "&#x27;")}">' in page
    assert "default-src &#x27;none&#x27;" in page
    assert "<script" not in page.lower()
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', page, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page, re.I)
    assert "@import" not in page and "@font-face" not in page
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(svgs) == page.count("<figure>") >= 8
    for svg in svgs:
        assert svg.startswith('<svg role="img" ') and 'xmlns="http://www.w3.org/2000/svg"' in svg
        assert "<image" not in svg  # drawn, not a picture of one
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # several plots on one page: ids of their own
    for svg in svgs:  # every reference inside a plot resolves inside that plot
        own = set(re.findall(r' id="([^"]+)"', svg))
        assert set(re.findall(r'href="#([^"]+)"', svg)) | set(re.findall(r"url\(#([^)]+)\)", svg)) <= own
    captions = re.findall(r'<figcaption id="cap-([^"]+)"><h3>[^<]+</h3><p>[^<]+</p></figcaption>', page)
    assert len(captions) == len(svgs)
    for name in captions:  # each plot's figures also as a table beside it
        assert re.search(rf'aria-labelledby="cap-{name}".*?</svg></figure><div class="figures"><table>', page, re.S)


def _bars(svg: str) -> dict[str, float]:
    """Each bar's width by its label (the bar's title), from one plot."""
    return {t.rsplit(":", 1)[0]: float(w) for w, t in re.findall(r'<rect [^>]*width="([0-9.]+)"[^>]*><title>([^<]+)</title>', svg)}


def test_the_plots_are_drawn_to_scale_with_their_figures(runs):
    s = runs["before"]["summary"]
    page = runs["before"]["html"]
    funnel = re.search(r'<svg [^>]*aria-labelledby="cap-funnel".*?</svg>', page, re.S).group(0)
    widths = _bars(funnel)
    values = s["report"]["funnel"]
    assert len(widths) >= 5
    per_family = widths["In the programme register"] / values["register"]
    for label, width in widths.items():  # every bar's length is its count, on one scale
        count = int(re.search(rf"<title>{re.escape(label)}: ([0-9,]+) ", funnel).group(1).replace(",", ""))
        assert width == pytest.approx(count * per_family, abs=0.01)
    assert f">{values['register']:,}</text>" in funnel  # the count written at the bar's end
    labels = re.findall(r"<text text-anchor=\"end\"><tspan", funnel)
    assert len(labels) == len(widths)  # each bar labelled
    ticks = [int(t.replace(",", "")) for t in re.findall(r'text-anchor="middle" font-size="12">([0-9,]+)</text>', funnel)]
    assert ticks[0] == 0 and len(set(ticks[i + 1] - ticks[i] for i in range(len(ticks) - 1))) == 1  # an even scale from 0
    assert max(ticks) <= max(values.values()) * 2


def test_no_personal_data_on_the_page(runs):
    page = runs["before"]["html"]
    register = (runs["out"] / run_files.CLAIM_REGISTER_CSV).read_text(encoding="utf-8")
    assert not re.search(r"\bF0\d{5}\b|\bP0\d{6}\b", page)  # no family or person id of the sample cohort
    practitioners = {line.split(",")[10] for line in register.splitlines()[1:]}
    assert not any(p and p in page for p in practitioners)
    assert "family_reference" not in page


def test_the_page_is_the_run_summarys_and_the_same_summary_gives_the_same_bytes(runs):
    s = runs["before"]["summary"]
    assert build_report(s) == build_report(copy.deepcopy(s)) == runs["before"]["html"]
    assert build_report(runs["after"]["summary"]) == runs["after"]["html"]
    listed = {o["name"] for o in s["outputs"]}
    assert run_files.REPORT_HTML in listed


def test_a_dry_run_has_the_draft_band_and_its_claims_as_not_recorded(runs):
    page, s = runs["dry"]["html"], runs["dry"]["summary"]
    assert "DRAFT — NOT FOR SUBMISSION" in page and "a dry run" in page
    assert "DRAFT — NOT FOR SUBMISSION" not in runs["before"]["html"]
    assert s["report"]["windows"] == [{"period_end": "2020-03-31", "claimed": 0, "withdrawn": 0, "draft": s["claims"]}]
    assert "this dry run&#x27;s claims are shown as if recorded" in page
    assert "Test County Council" in page


def test_a_run_without_a_claim_leaves_the_claims_sections_out(runs):
    page, s = runs["validate"]["html"], runs["validate"]["summary"]
    assert "DRAFT — NOT FOR SUBMISSION" in page and "this run makes no claim" in page
    _section(page, "validation")
    for anchor in ("funnel", "routes", "windows", "headlines", "blocking", "spot-check"):
        assert f'<section id="{anchor}"' not in page
    assert run_files.REPORT_HTML in {o["name"] for o in s["outputs"]}


def test_a_reconciled_run_shows_the_verdicts_and_no_withdrawn_claim_as_claimed(runs):
    page, s = runs["after"]["html"], runs["after"]["summary"]
    rec = s["reconciliation"]
    assert rec["invalid"] == 1 and rec["withdrawn_now"] == [runs["invalid"]]
    spot = _cell_text(_section(page, "spot-check"))
    assert f"{rec['valid']} were valid, 1 invalid and 0 queried" in spot
    assert f"withdrawn: {runs['invalid']}" in spot and f"{runs['invalid']} (withdrawn)" in spot
    left = runs["before"]["summary"]["claims"] - 1
    routes = re.search(r"<tfoot>(.*?)</tfoot>", _section(page, "routes"), re.S).group(1)
    assert re.findall(r">([^<]+)</t[dh]>", routes)[:2] == ["Total", str(left)]
    assert s["report"]["windows"] == [{"period_end": "2020-03-31", "claimed": left, "withdrawn": 1, "draft": 0}]
    assert "Refreshed on" in page and "tfclaims reconcile" in page
    assert "J. Auditor" not in page and "no action plan on file" not in page  # the auditor's notes stay in the workbook
    report = next(o for o in s["outputs"] if o["name"] == run_files.REPORT_HTML)
    import hashlib

    assert report["sha256"] == hashlib.sha256((runs["out"] / run_files.REPORT_HTML).read_bytes()).hexdigest()


def test_text_from_the_data_is_escaped_and_a_too_big_table_is_named(runs):
    s = copy.deepcopy(runs["before"]["summary"])
    s["report"]["council"] = "<script>alert('council')</script>"
    s["finance_summary"]["framework"] = '=HYPERLINK("x","y") & <b>plan</b>'
    s["report"]["headlines"]["rows"][0]["label"] = "<img src=x onerror=alert(1)> $5 vouchers"
    s["csv_only"] = [{"name": "claim_decisions.csv", "rows": 250_000, "workbook": "claim_decisions.xlsx"}]
    page = build_report(s)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;council&#x27;)&lt;/script&gt;" in page
    assert "=HYPERLINK(&quot;x&quot;,&quot;y&quot;) &amp; &lt;b&gt;plan&lt;/b&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt; $5 vouchers" in page
    headlines = re.search(r'<svg [^>]*aria-labelledby="cap-headlines".*?</svg>', page, re.S).group(0)
    assert "&lt;img src=x onerror=alert(1)&gt; $5</tspan>" in headlines  # in the plot as text, escaped, wrapped
    assert "<title>&lt;img src=x onerror=alert(1)&gt; $5 vouchers: " in headlines  # and whole in the bar's title
    too_big = _cell_text(_section(page, "csv-only"))
    assert "claim_decisions.xlsx was not written" in too_big and "250,000 rows" in too_big and "claim_decisions.csv" in too_big


# ----------------------------------------------------------------------------------------------
# in a browser


def _browser(user_data: str):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={user_data}", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _check_in_browser(driver, path: Path, summary: dict, screenshot: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(path.as_uri())
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    plots = driver.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert len(plots) >= 8
    for svg in plots:
        driver.execute_script("arguments[0].scrollIntoView()", svg)
        assert svg.is_displayed() and svg.size["width"] > 100 and svg.size["height"] > 50
    live = sum(x["claims"] for x in summary["finance_summary"]["routes"])
    pence = sum(x["amount_pence"] for x in summary["finance_summary"]["routes"])
    total = driver.find_element(By.CSS_SELECTOR, "#routes tfoot").text.split()
    assert total == ["Total", str(live), f"£{pence / 100:,.2f}"]
    funnel = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
              for r in driver.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")}
    assert funnel["In the programme register"] == str(summary["report"]["funnel"]["register"])
    assert funnel["Attached by the period end"] == str(summary["report"]["funnel"]["attached"])
    read = driver.find_element(By.CSS_SELECTOR, "#validation tfoot").text.split()
    assert read[1] == f"{sum(t['read'] for t in summary['tables'].values()):,}"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1280  # nothing runs off the side
    driver.set_window_size(1280, height + 120)
    driver.save_screenshot(str(screenshot))


def test_the_demo_page_in_headless_chromium(runs):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver")
    user_data = tempfile.mkdtemp(prefix="tfclaims-chromium-")
    driver = _browser(user_data)
    try:
        _check_in_browser(driver, runs["kept"] / run_files.REPORT_HTML, runs["before"]["summary"], Path("/tmp/report.png"))
        _check_in_browser(driver, runs["out"] / run_files.REPORT_HTML, runs["after"]["summary"], Path("/tmp/report-reconciled.png"))
        from selenium.webdriver.common.by import By

        assert "The claim may NOT go forward" not in driver.find_element(By.ID, "spot-check").text
    finally:
        driver.quit()
        shutil.rmtree(user_data, ignore_errors=True)

"""Regenerate docs/console/*.png: the console's pages in Debian's headless Chromium (Playwright, no download).

Builds a synthetic 60-day ledger (bench/console.py's generator, 50,000 rows), starts the real gateway on
it with the bundled policy, sets two budgets, writes one real eval report (`switchyard eval run` on
../shared/data/routing/mmlu-train.jsonl, gated), signs in and photographs each page.

    .venv/bin/python scripts/console_screenshots.py [--rows 50000] [--out docs/console] [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.console import ADMIN_KEY, build  # noqa: E402
from tests.servers import start_gateway  # noqa: E402

MMLU = ROOT.parent / "shared" / "data" / "routing" / "mmlu-train.jsonl"
PAGES = ["overview", "teams", "requests", "routing", "keys", "eval"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--eval-dir", type=Path, default=None, help="Folder of eval HTML reports to list (default: none).")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="switchyard-shots-") as tmp:
        work = Path(tmp)
        db = work / "ledger.db"
        build(f"sqlite:///{db}", args.rows)
        reports = args.eval_dir or work / "eval-reports"
        reports.mkdir(exist_ok=True)
        if args.eval_dir is None and MMLU.is_file():  # one real eval report, gated, for the Eval page
            subprocess.run([sys.executable, "-m", "router.cli", "eval", "run", "--data", str(MMLU), "--weak", "mixtral-8x7b-instruct-v0.1",
                            "--strong", "gpt-4-1106-preview", "--classifier", "rules", "--bootstrap", "20",
                            "--min-quality-retained", "0.9", "--html", str(reports / "mmlu-length-rule.html")],
                           cwd=ROOT, capture_output=True, timeout=600, check=False)  # exit 1 = the gate failed: still a report
        env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{db}", "SWITCHYARD_ADMIN_KEY": ADMIN_KEY, "SWITCHYARD_POLICY_POLL_S": "0",
               "SWITCHYARD_EVAL_REPORTS_DIR": str(reports)}
        policy = work / "policy.yaml"  # a copy: the Routing page can reload the file it was given
        shutil.copy(ROOT / "policies" / "default.yaml", policy)
        gateway = start_gateway(policy, work, env=env)
        try:
            with httpx.Client(base_url=gateway.url, timeout=120) as client:
                client.post("/console/login", data={"key": ADMIN_KEY})
                token = client.get("/console/overview").text.split('name="csrf-token" content="')[1].split('"')[0]
                for budget in ({"scope": "team", "scope_id": "team-03", "tenant": "tenant-003", "period": "weekly", "usd": 0.02},
                               {"scope": "tenant", "scope_id": "tenant-042", "period": "total", "usd": 0.5}):
                    client.put("/console/api/budgets", json=budget, headers={"X-CSRF-Token": token}).raise_for_status()
                client.post("/console/api/keys", json={"tenant": "tenant-042", "team": "team-02", "name": "ci"},
                            headers={"X-CSRF-Token": token}).raise_for_status()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                page.goto(gateway.url + "/console/login")
                page.screenshot(path=str(args.out / "login.png"))
                page.fill("#key", ADMIN_KEY)
                page.click("button[type=submit]")
                page.wait_for_url("**/console/overview")
                for name in PAGES:
                    page.goto(f"{gateway.url}/console/{name}?since=30d" if name != "keys" else f"{gateway.url}/console/{name}")
                    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                    if name == "eval" and page.locator("tbody tr.clickable").count():
                        page.locator("tbody tr.clickable").first.click()
                        page.wait_for_selector("#report-frame iframe")
                        page.wait_for_timeout(1000)  # the frame's own load; a screenshot, not an assertion
                    if name == "requests":
                        page.locator("table.requests tbody tr").first.click()
                        page.wait_for_selector("#detail h2")
                        page.evaluate("window.scrollTo(0, 0)")
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                    print(f"wrote {args.out / (name + '.png')}")
                browser.close()
        finally:
            gateway.stop()


if __name__ == "__main__":
    main()

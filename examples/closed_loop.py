"""The closed loop, run on shipped data (`make loop`): train, serve, and week by week send real
HTTP requests, join the labels, monitor the log and retrain when the gates fail.

data/churn_weeks.csv holds eight weeks of sign-ups; from week 5 the world changes (prices, the
plan mix, and how churn follows from the columns). Week 1 and 2 train the first model, which is
promoted and served by `mlw serve`. Each later week:

1. the week's rows (without their label) go to the server as POST /predict requests of 50 rows,
   each with its own X-Request-ID; the served model's quality is measured on the week's labels;
2. the labels are written as `request_id,row,churned` and `mlw monitor --log --since <week>`
   joins them to the prediction log (monitor.labels) and checks monitor.gates;
3. `mlw ingest --append` adds the week's labelled rows; `mlw retrain --if-drift --monitor latest`
   trains on the newest week (retrain.window) only when a monitor gate failed, and promotes the
   challenger when it beats the champion; the server picks it up by hot reload.

The first model is also scored on every week (`mlw predict --model <it>`), to show what would
have happened without retraining. Prints a table, writes loop.png (quality by week, the promotion
marked) and loop.json, and exits 1 unless quality recovered: the retrained model's ROC AUC on
the weeks after its promotion within 0.02 of the first model's before the change, and the first
model's lower there.

    .venv/bin/python examples/closed_loop.py [--work artifacts/loop]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import urllib.error
import urllib.request

import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "churn_loop.yaml"
MLW = [sys.executable, "-m", "mlflow_cli"]
TARGET = "churned"
FIRST_WEEKS = (1, 2)
CHANGE_WEEK = 5  # data/make_samples.py: make_churn_weeks(change_at=5)
REQUEST_ROWS = 50


def write_config(work: Path) -> Path:
    """configs/churn_loop.yaml with its store in the work folder."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    config["artifacts"] = str(work / "artifacts")
    config["data"]["source"]["path"] = str(work / "weeks" / "first.csv")
    path = work / "mlw.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def mlw(work: Path, *args: str, ok: tuple[int, ...] = (0,)) -> dict:
    """Run one mlw command with --json on the loop's config (its own artifact store)."""
    done = subprocess.run([*MLW, *args, "-c", str(work / "mlw.yaml"), "--json"], capture_output=True, text=True)
    if done.returncode not in ok:
        raise SystemExit(f"mlw {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout) if done.stdout.strip() else {}


def post(url: str, payload: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST JSON, (status, decoded body): the standard library is all a client needs."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")[:500]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(work: Path, port: int) -> subprocess.Popen:
    log = open(work / "serve.log", "w")
    server = subprocess.Popen([*MLW, "serve", "-c", str(work / "mlw.yaml"), "--port", str(port),
                               "--set", "serve.reload_interval_s=0.3"],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"mlw serve did not start; see {work / 'serve.log'}")


def send_week(url: str, week: int, rows: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, set[str]]:
    """The week's rows as requests; (request_id, row, p_yes, predicted) per row, and the versions that answered."""
    answers, versions = [], set()
    for start in range(0, len(rows), REQUEST_ROWS):
        batch = rows.iloc[start:start + REQUEST_ROWS]
        request_id = f"week{week}-{start // REQUEST_ROWS:03d}"
        records = json.loads(batch[columns].to_json(orient="records"))
        status, body = post(f"{url}/predict", records, {"X-Request-ID": request_id})
        if status != 200:
            raise SystemExit(f"request {request_id} failed: {status} {body}")
        versions.add(body["model_version"])
        for row, (probabilities, predicted) in enumerate(zip(body["probabilities"], body["predictions"])):
            answers.append({"request_id": request_id, "row": row, "p_yes": probabilities["yes"],
                            "predicted": predicted})
    return pd.DataFrame(answers), versions


def quality(labels: pd.Series, p_yes: pd.Series, predicted: pd.Series) -> dict[str, float]:
    truth = labels == "yes"
    return {"roc_auc": float(roc_auc_score(truth, p_yes)), "f1": float(f1_score(truth, predicted == "yes"))}


def wait_for(url: str, version: str, records: list[dict]) -> None:
    """Until the server answers with `version` (it follows the alias by hot reload)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = post(f"{url}/predict", records)
        if status == 200 and body["model_version"] == version:
            return
        time.sleep(0.2)
    raise SystemExit(f"the server did not switch to {version}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "artifacts" / "loop",
                        help="folder for the loop's data, artifacts, log and plot (emptied first)")
    args = parser.parse_args()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "weeks").mkdir(parents=True)
    data = pd.read_csv(ROOT / "data" / "churn_weeks.csv")
    for week, rows in data.groupby("week"):
        rows.to_csv(work / "weeks" / f"week_{week}.csv", index=False)
    first_rows = work / "weeks" / "first.csv"
    data[data["week"].isin(FIRST_WEEKS)].to_csv(first_rows, index=False)
    write_config(work)

    print(f"weeks {FIRST_WEEKS[0]}-{FIRST_WEEKS[-1]}: train the first model and serve it", file=sys.stderr)
    steps = mlw(work, "run")["steps"]
    first = next(s["version"] for s in steps if s["stage"] == "train")
    mlw(work, "models", "promote", first, "--alias", "production")
    schema = json.loads((work / "artifacts" / "churn_loop" / "prepare" /
                         next(s["version"] for s in steps if s["stage"] == "prepare") / "schema.json").read_text())
    columns = list(schema["columns"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(work, port)
    table = []
    try:
        for week in sorted(set(data["week"]) - set(FIRST_WEEKS)):
            rows = data[data["week"] == week].reset_index(drop=True)
            since = datetime.now(timezone.utc).isoformat()
            answers, served = send_week(url, week, rows, columns)
            labels = answers.assign(churned=rows[TARGET].to_numpy())
            labels_file = work / "weeks" / f"labels_{week}.csv"
            labels[["request_id", "row", TARGET]].to_csv(labels_file, index=False)
            served_quality = quality(labels[TARGET], labels["p_yes"], labels["predicted"])
            scored = work / "weeks" / f"first_model_{week}.csv"
            mlw(work, "predict", "--model", first, "--input", str(work / "weeks" / f"week_{week}.csv"),
                "--output", str(scored))
            baseline = pd.read_csv(scored)
            first_quality = quality(rows[TARGET], baseline["proba_yes"], baseline["prediction"])
            monitored = mlw(work, "monitor", "--log", "--since", since, "--set", f"monitor.labels.path={labels_file}",
                            ok=(0, 1))
            result = monitored["result"]
            failed = [g["gate"] for g in result["gates"] if not g["passed"]]
            mlw(work, "ingest", "--append", "--set", f"data.source.path={work / 'weeks' / f'week_{week}.csv'}")
            retrained = mlw(work, "retrain", "--if-drift", "--monitor", "latest", ok=(0, 1))
            if retrained["action"] == "promoted":
                wait_for(url, retrained["decision"]["challenger"]["version"],
                         json.loads(rows.iloc[:1][columns].to_json(orient="records")))
            entry = {"week": week, "served": sorted(served), "drift_share": result["drift"]["drift_share"],
                     "failed_gates": failed, "served_roc_auc": served_quality["roc_auc"],
                     "served_f1": served_quality["f1"], "first_roc_auc": first_quality["roc_auc"],
                     "first_f1": first_quality["f1"], "retrain": retrained["action"],
                     "retrain_reason": retrained.get("reason"), "promoted": retrained["action"] == "promoted"}
            table.append(entry)
            print(f"week {week}: served {', '.join(v[-6:] for v in served)}  drift share "
                  f"{entry['drift_share']:.2f}  ROC AUC served {entry['served_roc_auc']:.3f} "
                  f"(first model {entry['first_roc_auc']:.3f})  gates failed: {', '.join(failed) or 'none'}  "
                  f"retrain: {entry['retrain']}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(60)
    return report(work, table)


def report(work: Path, table: list[dict]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(table)
    print("\n| week | served model | drift share | gates failed | served ROC AUC | first model ROC AUC | served f1 "
          "| retrain |")
    print("| ---: | --- | ---: | --- | ---: | ---: | ---: | --- |")
    for e in table:
        print(f"| {e['week']} | {', '.join(v[-6:] for v in e['served'])} | {e['drift_share']:.2f} | "
              f"{', '.join(e['failed_gates']) or '-'} | {e['served_roc_auc']:.3f} | {e['first_roc_auc']:.3f} | "
              f"{e['served_f1']:.3f} | {e['retrain']} |")
    promoted = [int(w) for w in frame.loc[frame["promoted"], "week"]]
    change = CHANGE_WEEK
    before = frame[frame["week"] < change]["first_roc_auc"].mean()
    after_promotion = frame[frame["week"] > promoted[0]] if promoted else frame.iloc[0:0]
    recovered = after_promotion["served_roc_auc"].mean() if len(after_promotion) else float("nan")
    stale = after_promotion["first_roc_auc"].mean() if len(after_promotion) else float("nan")
    passed = bool(promoted and recovered >= before - 0.02 and stale < recovered)
    figure, axes = plt.subplots(figsize=(7, 4.2))
    axes.plot(frame["week"], frame["served_roc_auc"], marker="o", label="served model (retrained when gates fail)")
    axes.plot(frame["week"], frame["first_roc_auc"], marker="s", linestyle="--", label="first model, never retrained")
    axes.axvline(change - 0.5, color="grey", linestyle=":", label="the world changes")
    for week in promoted:
        axes.axvline(week + 0.5, color="green", alpha=0.6, label="retrained and promoted" if week == promoted[0] else None)
    axes.set_xlabel("week")
    axes.set_ylabel("ROC AUC on the week's labels")
    axes.set_ylim(0.3, 1.0)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(work / "loop.png", dpi=110)
    summary = {"weeks": table, "change_week": change, "promoted_after_weeks": promoted,
               "first_model_before_change": float(before), "served_after_promotion": float(recovered),
               "first_model_after_promotion": float(stale), "recovered": passed}
    (work / "loop.json").write_text(json.dumps(summary, indent=2))
    print(f"\nROC AUC: first model before the change {before:.3f}; after the promotion (weeks "
          f"{', '.join(str(w) for w in after_promotion['week'])}) the retrained model {recovered:.3f}, the first "
          f"model {stale:.3f}. {'RECOVERED' if passed else 'NOT RECOVERED'} (target: within 0.02 of before, "
          f"above the first model). Plot: {work / 'loop.png'}")
    return 0 if passed else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

"""`mlw serve` for a recommendation model: the routes and the in-memory updates.

- `GET /recommend/{user}?k=10`: the user's top-k, seen items excluded, with titles from the item
  metadata; a user the model has never seen gets the popular items and is told so (not an error).
  Any other query parameter filters on a metadata column (`?genres=Drama`), for known and new users.
- `POST /recommend`: a new user's ratings, `{"ratings": [{"item": .., "rating": ..}], "k": 10}`,
  folded into the trained factors on the fly (nothing stored).
- `GET /similar/{item}?k=10`: items like an item.
- `POST /ratings`: `{"ratings": [{"user": .., "item": .., "rating": ..}]}` recorded: the users' next
  lists reflect them at once (fold-in, no refit), and they are appended to the ratings log
  (`<store>/ratings/ratings.csv`, in the data's column names) for `mlw retrain --input`.
- `POST /predict`: predicted ratings of (user, item) pairs, records with the data's user and item
  columns (or `user` and `item`).

Interactions that `mlw ingest --append` adds are folded in as well (the reload thread looks for
new ingest versions that append to the model's data). Bad input (a rating outside the scale, a non-numeric rating, a missing field, bad JSON) is a 422
naming the field. Ratings recorded by this process are applied again to a model swapped in by hot
reload, so a retrained model does not forget them before its next refit. Every worker process
keeps its own updates (serve.workers > 1 does not share them).
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mlflow_cli.serve.middleware import BodyTooLarge, read_body
from mlflow_cli.serve.responses import dumps

log = logging.getLogger("mlw.serve")

RATINGS_LOG = "ratings"
MAX_K = 1000
MAX_RATINGS = 10_000      # ratings per request


class BadRequest(Exception):
    def __init__(self, message: str, issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message, self.issues = message, issues


class RecommendService:
    """The served Recommender, the updates recorded since it was loaded, and the ratings log."""

    def __init__(self, state: Any) -> None:
        self.state = state
        data = state.config.model.data
        self.user_column, self.item_column, self.rating_column = data.user_column, data.item_column, data.rating_column
        self.time_column = data.time_column
        self.lock = threading.RLock()  # `model` takes it too, when a swapped-in model gets the updates again
        self.recorded: list[tuple[list[Any], list[Any], list[float] | None]] = []  # re-applied after a swap
        self.log_path = state.store.log_dir(RATINGS_LOG) / "ratings.csv"
        self._model_version: str | None = None
        self.folded_ingest = self._ingest_of(state.holder.current)   # the newest ingest version folded in
        state.holder.watchers.append(self.fold_appended)

    @property
    def model(self) -> Any:
        """The current Recommender; a model swapped in by hot reload gets this process's ratings again."""
        served = self.state.holder.current
        recommender = served.recommender
        if served.version != self._model_version:
            with self.lock:
                if served.version != self._model_version:
                    for users, items, ratings in self.recorded:
                        recommender.add(users, items, ratings)
                    self._model_version = served.version
        return recommender

    # ----------------------------------------------------------------- ingest --append

    def _ingest_of(self, served: Any) -> str | None:
        """The ingest version behind a served model (train -> prepare -> ingest)."""
        from mlflow_cli.core.lineage import input_version, prepare_of

        try:
            train = self.state.store.load("train", served.version)
            return input_version(prepare_of(self.state.store, train).manifest, "ingest")
        except Exception:  # an odd lineage only means no batches are folded in
            return None

    def fold_appended(self) -> int:
        """Fold in the interactions `mlw ingest --append` added since the model's data (or the last
        batch folded): each batch's rows, from its own snapshot, in order. Run on the reload thread.
        A new snapshot that does not append to them is left to `mlw retrain`."""
        store, known = self.state.store, self.folded_ingest
        newest = store.latest("ingest")
        if known is None or newest is None or newest == known:
            return 0
        chain: list[Any] = []
        version: str | None = newest
        while version is not None and version != known and len(chain) < 1000:
            artifact = store.load("ingest", version)
            batch = (artifact.manifest.get("info") or {}).get("batch") or {}
            if "previous" not in batch:        # a fresh snapshot: nothing to append to
                self.folded_ingest = newest
                log.info("ingest/%s is a new snapshot, not an append: retrain to use it.", newest)
                return 0
            chain.append((artifact, batch))
            version = batch["previous"]
        if version != known:
            self.folded_ingest = newest
            return 0
        import pyarrow.parquet as pq

        added = 0
        columns = [c for c in (self.user_column, self.item_column, self.rating_column) if c]
        for artifact, batch in reversed(chain):
            table = pq.read_table(artifact.file("data.parquet"), columns=columns)
            rows = table.slice(batch["first_row"], batch["rows"]).to_pandas()
            rows = rows.dropna(subset=[self.user_column, self.item_column])
            if rows.empty:
                continue
            users, items = rows[self.user_column].tolist(), rows[self.item_column].tolist()
            ratings = rows[self.rating_column].astype(float).tolist() if self.rating_column and \
                self.model.rater is not None else None
            with self.lock:
                self.model.add(users, items, ratings)
                self.recorded.append((users, items, ratings))
            added += len(rows)
        self.folded_ingest = newest
        log.info("Folded in %d interactions that mlw ingest --append added (up to ingest/%s).", added, newest)
        return added

    # ----------------------------------------------------------------- parsing

    def user_id(self, value: Any) -> Any:
        """A user id as the model holds them (path parameters are text; ids may be integers)."""
        return _typed(value, self.model.users)

    def item_id(self, value: Any) -> Any:
        return _typed(value, self.model.items)

    def k(self, request: Request) -> int:
        raw = request.query_params.get("k", "10")
        try:
            k = int(raw)
        except ValueError:
            raise BadRequest(f"k must be a whole number from 1 to {MAX_K}; got {raw!r}.",
                             [{"loc": ["query", "k"], "msg": "not an integer", "input": raw}]) from None
        if not 1 <= k <= MAX_K:
            raise BadRequest(f"k must be from 1 to {MAX_K}; got {k}.",
                             [{"loc": ["query", "k"], "msg": f"must be 1 to {MAX_K}", "input": k}])
        return k

    def only(self, request: Request) -> Any:
        """Query parameters other than k filter on the item metadata (?genres=Drama), or None."""
        filters = {key: value for key, value in request.query_params.items() if key != "k"}
        if not filters:
            return None
        try:
            return self.model.matching(filters)
        except ValueError as exc:
            key = next(iter(filters))
            raise BadRequest(f"Cannot filter on {key!r}: {exc}.",
                             [{"loc": ["query", key], "msg": str(exc), "input": filters[key]}]) from None

    async def body(self, request: Request) -> Any:
        try:
            raw = await read_body(request, self.state.max_body)
        except BodyTooLarge:
            raise BadRequest(f"The request body is larger than serve.max_body_mb ({self.state.settings.max_body_mb:g} "
                             f"MB).") from None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BadRequest(f"The body is not valid JSON ({exc}).") from None

    def ratings(self, body: Any, need_user: bool) -> tuple[list[Any], list[Any], list[float] | None]:
        """`{"ratings": [...]}` as (users, items, ratings), each field checked (422 naming it)."""
        entries = body.get("ratings") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not entries:
            raise BadRequest('The body must be {"ratings": [{' + ('"user": ..., ' if need_user else '')
                             + '"item": ..., "rating": ...}, ...]} with at least one rating.')
        if len(entries) > MAX_RATINGS:
            raise BadRequest(f"At most {MAX_RATINGS:,} ratings per request; got {len(entries):,}.")
        scale = self.model.scale
        explicit = self.model.rater is not None
        users, items, values, issues = [], [], [], []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                issues.append({"loc": ["body", "ratings", i], "msg": "must be an object", "input": entry})
                continue
            user = entry.get("user", entry.get(self.user_column))
            item = entry.get("item", entry.get(self.item_column))
            if need_user and user is None:
                issues.append({"loc": ["body", "ratings", i, "user"], "msg": "field required", "input": None})
            if item is None:
                issues.append({"loc": ["body", "ratings", i, "item"], "msg": "field required", "input": None})
            rating = entry.get("rating", entry.get(self.rating_column) if self.rating_column else None)
            if explicit:
                if isinstance(rating, bool) or not isinstance(rating, (int, float)):
                    issues.append({"loc": ["body", "ratings", i, "rating"], "msg": "must be a number",
                                   "input": rating})
                elif scale and not scale[0] <= rating <= scale[1]:
                    issues.append({"loc": ["body", "ratings", i, "rating"],
                                   "msg": f"must be within the rating scale {scale[0]:g} to {scale[1]:g}",
                                   "input": rating})
            users.append(self.user_id(user) if user is not None else None)
            items.append(self.item_id(item) if item is not None else None)
            for field, value, index in (("user", users[-1], self.model.users), ("item", items[-1], self.model.items)):
                if value is not None and not _fits(value, index):  # the ratings log must append to the data
                    issues.append({"loc": ["body", "ratings", i, field], "input": value,
                                   "msg": f"must be {_kind_name(index)}, as the data's {field} ids are"})
            values.append(float(rating) if explicit and isinstance(rating, (int, float)) else 1.0)
        if issues:
            first = issues[0]
            raise BadRequest(f"{len(issues)} problem(s) in the ratings; the first: "
                             f"{'.'.join(map(str, first['loc'][1:]))} {first['msg']} (got {first['input']!r}).",
                             issues)
        return users, items, values if explicit else None

    # ----------------------------------------------------------------- answers

    def listing(self, ranked: Any, **fields: Any) -> dict[str, Any]:
        model = self.model
        described = model.describe(ranked.items)
        items = [{"item": _plain(item), "score": round(float(score), 6), **meta}
                 for item, score, meta in zip(ranked.items, ranked.scores, described)]
        out = {**fields, "known": ranked.known, "items": items, "model_version": self.state.holder.current.version}
        return out

    def record(self, users: list[Any], items: list[Any], ratings: list[float] | None) -> dict[str, Any]:
        with self.lock:
            counts = self.model.add(users, items, ratings)
            self.recorded.append((users, items, ratings))
            self._append_log(users, items, ratings)
        return counts

    def _append_log(self, users: list[Any], items: list[Any], ratings: list[float] | None) -> None:
        """The ratings as CSV rows in the data's column names, for `mlw retrain --input` (or ingest --append)."""
        path: Path = self.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        header = [self.user_column, self.item_column] + ([self.rating_column] if ratings is not None else []) + \
            ([self.time_column] if self.time_column else [])
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(header)
            for i, (user, item) in enumerate(zip(users, items)):
                row = [_plain(user), _plain(item)] + ([ratings[i]] if ratings is not None else [])
                writer.writerow(row + ([now] if self.time_column else []))


def add_routes(app: FastAPI, state: Any) -> RecommendService:
    """The recommendation routes on the app (and /predict answered with predicted ratings)."""
    service = RecommendService(state)

    async def answer(endpoint: str, request: Request, work: Any, with_body: bool = False) -> Response:
        """`work()` (or `work(body)`, the JSON body read first) answered as JSON, or a 422 refusal;
        an answered list is one line of the prediction log (the request, the items), as for /predict."""
        started = time.perf_counter()
        try:
            content = work(await service.body(request)) if with_body else work()
        except BadRequest as exc:
            return refusal(state, request, endpoint, started, exc)
        if "items" in content:
            log_list(state, request, endpoint, started, content)
        return Response(dumps(content), media_type="application/json")

    @app.get("/recommend/{user}", tags=["recommend"], summary="A user's top-k items (seen items excluded)")
    async def recommend_user(user: str, request: Request) -> Response:
        def work() -> dict[str, Any]:
            k, uid = service.k(request), service.user_id(user)
            ranked = service.model.recommend(uid, k, service.only(request))
            note = None if ranked.known else "new user: the model has no ratings from them, so these are the " \
                                             "most popular items"
            return service.listing(ranked, user=_plain(uid), note=note)
        return await answer("/recommend/{user}", request, work)

    @app.post("/recommend", tags=["recommend"], summary="Top-k for a new user from their ratings (folded in)")
    async def recommend_new(request: Request) -> Response:
        def work(body: Any) -> dict[str, Any]:
            _, items, ratings = service.ratings(body, need_user=False)
            k = body.get("k", 10)
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
                raise BadRequest(f"k must be a whole number from 1 to {MAX_K}; got {k!r}.",
                                 [{"loc": ["body", "k"], "msg": f"must be 1 to {MAX_K}", "input": k}])
            ranked = service.model.recommend_new(items, ratings, k)
            note = None if ranked.known else "none of these items is known to the model: the most popular items"
            return service.listing(ranked, note=note)
        return await answer("/recommend", request, work, with_body=True)

    @app.get("/similar/{item}", tags=["recommend"], summary="Items most like an item")
    async def similar(item: str, request: Request) -> Response:
        def work() -> dict[str, Any]:
            k, iid = service.k(request), service.item_id(item)
            ranked = service.model.similar(iid, k, service.only(request))
            note = None if ranked.known else "unknown item: the most popular items"
            return service.listing(ranked, item=_plain(iid), about=service.model.describe([iid])[0], note=note)
        return await answer("/similar/{item}", request, work)

    @app.post("/ratings", tags=["recommend"], summary="Record new ratings: next recommendations reflect them")
    async def ratings(request: Request) -> Response:
        def work(body: Any) -> dict[str, Any]:
            users, items, values = service.ratings(body, need_user=True)
            counts = service.record(users, items, values)
            return {**counts, "log": str(service.log_path), "model_version": state.holder.current.version}
        return await answer("/ratings", request, work, with_body=True)

    return service


async def predict_ratings(service: RecommendService, request: Request) -> Response:
    """/predict for a recommendation model: records of (user, item) -> predicted ratings."""
    started = time.perf_counter()
    try:
        body = await service.body(request)
        records = body if isinstance(body, list) else body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise BadRequest(f'The body must be a list of records: [{{"{service.user_column}": ..., '
                             f'"{service.item_column}": ...}}, ...].')
        issues = [{"loc": ["body", i, name], "msg": "field required", "input": None}
                  for i, record in enumerate(records) for name, alias in
                  ((service.user_column, "user"), (service.item_column, "item"))
                  if record.get(name, record.get(alias)) is None]
        if issues:
            raise BadRequest(f"{len(issues)} field(s) missing; the first: record {issues[0]['loc'][1]} has no "
                             f"'{issues[0]['loc'][2]}'.", issues)
        model = service.model
        if model.rater is None:
            raise BadRequest("This recommender was trained without ratings, so it predicts none; use "
                             "GET /recommend/{user} for its lists.")
        users = [service.user_id(r.get(service.user_column, r.get("user"))) for r in records]
        items = [service.item_id(r.get(service.item_column, r.get("item"))) for r in records]
        predicted = model.predict(users, items)
    except BadRequest as exc:
        return refusal(service.state, request, "/predict", started, exc)
    known = [model.is_known_user(u) for u in users]
    return Response(dumps({
        "predictions": [None if value != value else round(float(value), 4) for value in predicted],
        "known_users": known, "model_version": service.state.holder.current.version}),
        media_type="application/json")


def log_list(state: Any, request: Request, endpoint: str, started: float, content: dict[str, Any]) -> None:
    """One prediction-log line for an answered list: who or what it was for, k, and the items."""
    from mlflow_cli.serve.middleware import REQUEST_ID
    from mlflow_cli.serve.predlog import LogEntry
    from mlflow_cli.serve.requests import Rows

    model = state.holder.current
    asked = {key: content[key] for key in ("user", "item") if key in content}
    asked.update(known=content["known"], k=int(request.query_params.get("k", len(content["items"]))),
                 **{key: value for key, value in request.query_params.items() if key != "k"})  # filters
    try:
        state.predlog.submit(LogEntry(
            ts=datetime.now(timezone.utc).isoformat(), request_id=request.scope.get(REQUEST_ID) or "",
            model_version=model.version, alias=model.alias, endpoint=endpoint,
            latency_ms=(time.perf_counter() - started) * 1000, inputs=Rows(1, {k: [v] for k, v in asked.items()}),
            predictions=[[entry["item"] for entry in content["items"]]]))
    except Exception:  # bookkeeping must never cost the client its answer
        log.exception("Logging a %s request failed.", endpoint)


def refusal(state: Any, request: Request, endpoint: str, started: float, exc: BadRequest) -> Response:
    """422 with the message (and each bad field), logged as a refused request for monitoring."""
    from mlflow_cli.serve.middleware import REQUEST_ID

    state.refused(request.scope.get(REQUEST_ID) or "", endpoint, 422, "invalid_input", started)
    body = {"detail": exc.issues, "message": exc.message} if exc.issues else {"detail": exc.message}
    return Response(dumps(body), status_code=422, media_type="application/json")


def _typed(value: Any, index: Any) -> Any:
    """`value` in the index's type: "42" is the integer 42 when the ids are integers."""
    kind = getattr(index, "dtype", None)
    if kind is not None and kind.kind in "iu" and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    if kind is not None and kind.kind == "f":
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    return str(value) if not isinstance(value, str) and kind is not None and kind.kind == "O" else value


def _fits(value: Any, index: Any) -> bool:
    kind = getattr(getattr(index, "dtype", None), "kind", "O")
    if kind in "iu":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "f":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _kind_name(index: Any) -> str:
    kind = getattr(getattr(index, "dtype", None), "kind", "O")
    return "a whole number" if kind in "iu" else "a number" if kind == "f" else "text"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

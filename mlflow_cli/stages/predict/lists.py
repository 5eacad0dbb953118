"""`mlw predict` for recommendation: each user of the input (its data.user_column, in order of first
appearance; by default the training data's users) gets their top predict.k items, seen items
excluded, one row per (user, rank): user, rank, item, score, known (false: a new user, who gets
the popular items), and the item's title and other metadata when data.items gave them.
Heavy (pandas, scipy): imported only to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_cli.core.config import Config, SourceConfig
from mlflow_cli.core.errors import missing_column_error
from mlflow_cli.core.stage import ProgressFactory
from mlflow_cli.data.sources import source_label
from mlflow_cli.stages.predict.batch import Tally

PREVIEW_ROWS = 10
USERS_PER_PART = 10_000      # users whose lists are written together


class ListJob:
    """Top-k lists for the users of a source, written as one table (the same `run` as BatchJob)."""

    def __init__(self, config: Config, source: SourceConfig, model: Any, progress: ProgressFactory) -> None:
        self.config, self.source, self.model, self.progress = config, source, model, progress
        self.user, self.item = config.model.data.user_column, config.model.data.item_column

    def run(self, out: Path, out_kind: str, rejects_out: Path | None) -> Tally:
        import pandas as pd
        import pyarrow as pa

        from mlflow_cli.engine import engine_named

        engine = engine_named("local")
        frame = engine.read_frame(self.source)
        if self.user not in frame.columns:
            raise missing_column_error(f"the user column of {source_label(self.source)} (data.user_column)",
                                       self.user, list(frame.columns))
        users = pd.unique(frame[self.user].dropna())
        k = self.config.model.predict.k
        tally = Tally(rows_in=len(frame))
        sink = engine.writer(out, out_kind)
        try:
            with self.progress(f"Recommending for {len(users):,} users", len(users), unit="items") as bar:
                for start in range(0, len(users), USERS_PER_PART):
                    chunk = users[start:start + USERS_PER_PART]
                    table = self._lists(chunk, k)
                    arrow = pa.Table.from_pandas(table, preserve_index=False)
                    if not sink.opened:
                        sink.open(arrow.schema)
                    sink.write(arrow)
                    tally.scored += len(chunk)
                    tally.chunks += 1
                    if tally.preview is None:
                        head = table.head(PREVIEW_ROWS)
                        tally.preview = {"columns": list(head.columns), "rows": head.values.tolist()}
                    bar.advance(len(chunk))
        finally:
            sink.close()
        tally.columns = list(table.columns) if len(users) else []
        new = sum(not self.model.is_known_user(u) for u in users)
        if new:
            tally.warnings.append(f"{new:,} of {len(users):,} users are new to the model: they get the popular items")
        return tally

    def _lists(self, users: Any, k: int) -> Any:
        import pandas as pd

        rows = []
        for user, ranked in zip(users, self.model.recommend_many(users, k)):
            for rank, (item, score) in enumerate(zip(ranked.items, ranked.scores), start=1):
                rows.append((user, rank, item, score, ranked.known))
        table = pd.DataFrame(rows, columns=[self.user, "rank", self.item, "score", "known"])
        if self.model.metadata is not None and len(table):
            shown = self.model.metadata.reindex(table[self.item].to_numpy()).reset_index(drop=True)
            table = pd.concat([table, shown.add_prefix("item_" if self.item in shown.columns else "")], axis=1)
        return table

"""engine/local.py: a source read as parts of exactly chunk rows, numbered from row 1, with the
bytes each accounts for; a function mapped in order; parts written as they come."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from mlflow_cli.core.config import SourceConfig
from mlflow_cli.engine import LocalEngine, PartWriter, engine_named

from ..conftest import DATA


def _parts(rows: int, block: int = 1 << 12):
    source = SourceConfig(type="csv", path=str(DATA / "churn.csv"))
    return list(LocalEngine().read_parts(source, rows=rows, block_size=block, whole_file_bytes=0))


def test_parts_have_exactly_the_asked_rows_numbered_from_one():
    whole = pcsv.read_csv(DATA / "churn.csv")
    parts = _parts(rows=97)
    assert [p.table.num_rows for p in parts[:-1]] == [97] * (len(parts) - 1)
    assert 0 < parts[-1].table.num_rows <= 97 and sum(p.table.num_rows for p in parts) == whole.num_rows
    assert [p.first_row for p in parts] == [1 + 97 * i for i in range(len(parts))]
    assert pa.concat_tables([p.table for p in parts]).column("customer_id").equals(whole.column("customer_id"))
    assert sum(p.size for p in parts) == pytest.approx((DATA / "churn.csv").stat().st_size, rel=0.01)


def test_map_parts_keeps_source_order_and_writers_write_each_part(tmp_path):
    parts = _parts(rows=200)
    firsts = list(LocalEngine().map_parts(lambda part: part.first_row, iter(parts)))
    assert firsts == [p.first_row for p in parts]
    for kind in ("parquet", "csv"):
        writer = PartWriter(tmp_path / f"out.{kind}", kind)
        writer.open(parts[0].table.schema)
        for part in parts:
            writer.write(part.table)
        writer.close()
    assert pq.ParquetFile(tmp_path / "out.parquet").num_row_groups == len(parts)
    assert pq.read_table(tmp_path / "out.parquet").num_rows == sum(p.table.num_rows for p in parts)
    assert pcsv.read_csv(tmp_path / "out.csv").num_rows == sum(p.table.num_rows for p in parts)


def test_without_rows_the_parts_are_the_readers_blocks():
    source = SourceConfig(type="csv", path=str(DATA / "churn.csv"))
    engine = LocalEngine()
    parts = list(engine.read_parts(source, rows=None, block_size=1 << 14, whole_file_bytes=0))
    blocks = list(pcsv.open_csv(DATA / "churn.csv", read_options=pcsv.ReadOptions(block_size=1 << 14)))
    assert len(parts) == len(blocks) > 1
    assert [p.table.num_rows for p in parts] == [b.num_rows for b in blocks]
    assert [p.first_row for p in parts] == [1 + sum(b.num_rows for b in blocks[:i]) for i in range(len(blocks))]


def test_advance_hears_of_each_block_as_it_is_read():
    """Progress finer than a part: a part of 97 rows may span several blocks (and a SQL source or a
    glob is one part), yet the bar moves with every block read, before the part is handed on."""
    source = SourceConfig(type="csv", path=str(DATA / "churn.csv"))
    heard: list[float] = []
    seen_before_part: list[int] = []
    for part in LocalEngine().read_parts(source, rows=1000, block_size=1 << 12, whole_file_bytes=0,
                                         advance=heard.append):
        seen_before_part.append(len(heard))
    assert len(heard) > len(seen_before_part) > 1
    assert seen_before_part[0] > 1  # the first part's blocks were reported before it came out
    assert sum(heard) == pytest.approx((DATA / "churn.csv").stat().st_size, rel=0.01)


def test_writers_encode_text_by_dictionary_or_every_column_when_asked(tmp_path):
    table = pa.table({"x": [1.5, 2.5, 1.5], "s": ["a", "b", "a"]})

    def dictionary_columns(use_dictionary):
        path = tmp_path / f"{use_dictionary}.parquet"
        writer = LocalEngine().writer(path, "parquet", use_dictionary=use_dictionary)
        writer.open(table.schema)
        writer.write(table)
        writer.close()
        meta = pq.ParquetFile(path).metadata.row_group(0)
        return {meta.column(i).path_in_schema for i in range(meta.num_columns)
                if "RLE_DICTIONARY" in meta.column(i).encodings or "PLAIN_DICTIONARY" in meta.column(i).encodings}

    assert dictionary_columns(None) == {"s"}
    assert dictionary_columns(True) == {"x", "s"}
    assert isinstance(LocalEngine().writer(tmp_path / "o.csv", "csv"), PartWriter)


def test_engine_named_gives_the_local_engine_and_engine_for_the_configured_one():
    from mlflow_cli.core.config import EngineConfig
    from mlflow_cli.engine import engine_for

    assert isinstance(engine_named("local"), LocalEngine)
    assert isinstance(engine_for(None), LocalEngine) and isinstance(engine_for(EngineConfig()), LocalEngine)
    with pytest.raises(ValueError, match="use engine_for for 'dask'"):
        engine_named("dask")

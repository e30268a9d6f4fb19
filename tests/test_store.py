"""Reading parts of a stored table: only matching row groups are read, and exactly the matching rows."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from harness import store


def test_reading_some_points_reads_only_their_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 100)
    rng = np.random.default_rng(0)
    n = 1000
    table = pd.DataFrame({c: np.zeros(n, dtype=np.int64) for c in store.REQUIRED_COLUMNS})
    table["function"] = pd.Categorical(np.repeat(["a", "b/c"], n // 2))
    table["point_index"] = np.tile(np.arange(n // 2), 2)  # sorted within each function
    table["h"] = rng.random(n)
    store.write_parquet(table, tmp_path / store.RESULTS_FILE)
    assert pq.ParquetFile(tmp_path / store.RESULTS_FILE).metadata.num_row_groups == 10

    got = store.read_results(tmp_path, functions=["b/c"], point_indices=[3, 4, 200])
    want = table[(table["function"] == "b/c") & table["point_index"].isin([3, 4, 200])]
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got["h"].to_numpy(), want["h"].to_numpy())
    assert store.read_results(tmp_path, functions=["nothing"]).empty

    read = []
    original = pq.ParquetFile.read_row_groups
    monkeypatch.setattr(pq.ParquetFile, "read_row_groups",
                        lambda self, groups, *a, **k: read.append(list(groups)) or original(self, groups, *a, **k))
    store.read_results(tmp_path, functions=["a"], point_indices=[0])
    assert read == [[0]]

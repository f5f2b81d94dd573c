"""The KIS parse benchmark keeps working (its figures are read from `make bench`, not here)."""

from bench import bench_kis_parse


def test_benchmark_runs_quick() -> None:
    result = bench_kis_parse.run(quick=True)
    assert result["records_per_second_1_per_frame"] > 0 and result["target"] == 200_000

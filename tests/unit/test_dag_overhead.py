from olist_pipeline.run.job import dag_overhead


def test_overhead_is_wall_time_over_the_tasks_own_time() -> None:
    tasks = [{"seconds": 30.0}, {"seconds": 10.0}, {"seconds": None}]
    assert dag_overhead(52.0, tasks) == "DAG 52s for 40s of task run time (overhead 1.30x)"


def test_no_task_time_has_no_ratio() -> None:
    assert dag_overhead(3.0, [{"seconds": None}]).endswith("(overhead n/a)")

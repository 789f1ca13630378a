"""Static DAG tests: Airflow writes its config and database under a temporary AIRFLOW_HOME.

Airflow reads AIRFLOW_HOME once, at its first import, so it is set here,
before any test module imports it; nothing lands in the checkout or ~/airflow.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="olist-airflow-dagtests-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

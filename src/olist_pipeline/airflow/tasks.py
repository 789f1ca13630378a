"""Run one ``olist`` command as a local Airflow task (the local target's executor).

The ``olist`` executable is looked up when the task runs (next to the Python
running the task, then on PATH), never when the DAG file is parsed. The
command's exit code decides whether Airflow retries: a failed DQ gate (4) or
a usage/configuration error (2) fails at once, since running it again cannot
change the answer; anything else non-zero is retried with backoff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from olist_pipeline.errors import EXIT_GATE_FAILED, EXIT_USAGE
from olist_pipeline.logs import get_logger

log = get_logger("olist.airflow.tasks")

NO_RETRY_EXIT_CODES = (EXIT_USAGE, EXIT_GATE_FAILED)


def olist_executable() -> str:
    beside = Path(sys.executable).with_name("olist")
    if beside.is_file():
        return str(beside)
    found = shutil.which("olist")
    if found:
        return found
    from olist_pipeline.errors import UsageError

    raise UsageError(
        "the `olist` command is not installed next to this Python or on PATH; "
        "run `make setup` (it installs the package into .venv)"
    )


def venv_bin() -> str:
    """The folder of the running Python (holds `olist`, `spark-submit`)."""
    return str(Path(sys.executable).parent)


def run_olist(
    argv: Sequence[str], ok_exit_codes: Sequence[int] = (0,), skip_exit_codes: Sequence[int] = ()
) -> int:
    """Run ``olist <argv>``, stream its output to the task log, map its exit code."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

    cmd = [olist_executable(), *argv]
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        # print() lands in the Airflow task log in both in-process and worker runs.
        print(line.rstrip("\n"), flush=True)
    code = proc.wait()
    if code in skip_exit_codes:
        # The command printed why (e.g. no increment for the interval).
        raise AirflowSkipException(f"`olist {' '.join(argv)}` had nothing to do (exit {code})")
    if code in ok_exit_codes:
        if code != 0:
            log.warning("olist_command_finished_with_warning", argv=list(argv), exit_code=code)
        return code
    message = f"`olist {' '.join(argv)}` exited with {code}"
    if code in NO_RETRY_EXIT_CODES:
        raise AirflowFailException(message + " (not retried: a re-run cannot change the result)")
    raise AirflowException(message)

"""Errors a user can act on, and the exit codes the CLI maps them to.

Exit codes (documented in the README, relied on by Airflow tasks):
  0  success
  1  the step failed (a bug or an unexpected error; see the log)
  2  bad usage, configuration or a missing prerequisite (the message says the fix)
  3  finished, but some input rows were quarantined (ingest)
  4  a data-quality gate failed (error-severity check)
  5  nothing to do: no daily increment for the interval (ingest); the
     Airflow task is skipped, not failed
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_QUARANTINED = 3
EXIT_GATE_FAILED = 4
EXIT_NOTHING_TO_DO = 5


class OlistError(RuntimeError):
    """An error with a message meant for the user, and its exit code."""

    exit_code = EXIT_FAILURE


class UsageError(OlistError):
    exit_code = EXIT_USAGE

"""Names the dead-code check (vulture, `make lint`) cannot see used: each is named here
with the reason. Read by vulture only; nothing imports this file.

Every entry is a true positive's use that vulture cannot follow: a getattr by name, a
registration by decorator, a fixture requested for its side effect, a field read through
``as_dict`` (``self.__dict__``).
"""

from olist_pipeline.stack import monitoring
from olist_pipeline.stream import dlq

# stack.stack builds the monitoring services by class name (getattr) when started.
monitoring.PostgresExporterService

# Registered by name with @fix (dlq.FIXES): `olist stream dlq replay --fix NAME`.
dlq._drop_unknown_fields
dlq._latest_schema_version

# Set by the loop, read through as_dict: the JSON line `olist stream consume` and
# `olist stream dlq replay` print, and their consumer_finished / dlq_replay_done logs.
_.exit_reason  # stream/consumer.py: RunSummary.exit_reason
_.skipped_repeat  # stream/dlq.py: ReplayReport.skipped_repeat
_.skipped_batches  # stream/live/job.py: LiveSummary.skipped_batches (`olist stream live` JSON)

# Overrides PyYAML's emitter calls (airflow/sparkapps.py: the generated files' layout).
_.increase_indent
_.ignore_aliases
indentless

# Fixtures requested for their side effect (a running stack, installed CRDs).
crds
local_stack

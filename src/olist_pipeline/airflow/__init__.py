"""The single step graph of the pipeline and the Airflow DAGs built from it.

``definition`` holds the steps (commands, dependencies, resources, retries)
as plain data; ``dags`` turns one definition into an Airflow DAG for either
target (``OLIST_ENV=local``: local operators, ``kind``: Kubernetes
operators); ``local_run`` runs ``olist_batch`` with ``dag.test()`` in a child
process for ``make run`` (Airflow's configuration and state stay out of the caller).
Nothing here imports Airflow at module level except ``dags``.
"""

"""ctxbench: trustworthy latency numbers for the Kubernaut Context API workload on PostgreSQL + pgvector."""

__version__ = "0.1.0"

"""The fixed vocabularies of the generated world: namespaces, clusters, kinds, alerts, actions.

These tables are part of the dataset's definition (they do not depend on the seed); changing
one changes every dataset, so ``GENERATOR_VERSION`` in ``generator.py`` must be bumped with it.
Orderings matter: Zipf weights follow list order (first = most frequent).
"""

from __future__ import annotations

from dataclasses import dataclass

# -- where things run -------------------------------------------------------------------------
NAMESPACES: tuple[str, ...] = (
    "payments", "checkout", "orders", "catalog", "frontend", "auth", "search", "inventory",
    "shipping", "notifications", "monitoring", "kube-system", "ingress-nginx", "api-gateway",
    "recommendations", "billing", "data-pipeline", "ml-serving", "user-profile", "cart",
    "analytics", "logging", "cert-manager", "fraud-detection", "messaging", "media", "reporting",
    "scheduler", "batch-jobs", "istio-system", "argocd", "vault", "redis", "kafka",
    "postgres-operator", "elastic", "backup", "ci-runners", "sandbox", "default",
)
NAMESPACE_ZIPF_S = 1.1

# (cluster, environment); Zipf over this order gives production ~57 %, staging ~23 %,
# development ~12 %, test ~8 % of resources.
CLUSTERS: tuple[tuple[str, str], ...] = (
    ("prod-us-east-1", "production"),
    ("staging-us-east-1", "staging"),
    ("prod-eu-west-1", "production"),
    ("dev-us-east-1", "development"),
    ("prod-us-west-2", "production"),
    ("staging-eu-west-1", "staging"),
    ("test-ci-1", "test"),
    ("prod-ap-southeast-1", "production"),
    ("dev-eu-west-1", "development"),
    ("test-perf-1", "test"),
)
CLUSTER_ZIPF_S = 1.0
ENVIRONMENTS: tuple[str, ...] = ("production", "staging", "development", "test")
CLUSTER_NULL_SHARE = 0.02   # traces written before 008 added the column
ENVIRONMENT_NULL_SHARE = 0.04  # traces whose alert carried no environment label

# -- resources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    api_version: str
    share: float
    alert_class: str
    label: str            # the Prometheus label that names it in alert labels
    namespaced: bool = True


KINDS: tuple[Kind, ...] = (
    Kind("Pod", "v1", 0.43, "pod", "pod"),
    Kind("Deployment", "apps/v1", 0.22, "workload", "deployment"),
    Kind("StatefulSet", "apps/v1", 0.07, "workload", "statefulset"),
    Kind("DaemonSet", "apps/v1", 0.04, "workload", "daemonset"),
    Kind("Job", "batch/v1", 0.03, "workload", "job_name"),
    Kind("CronJob", "batch/v1", 0.02, "workload", "cronjob"),
    Kind("HorizontalPodAutoscaler", "autoscaling/v2", 0.03, "workload", "horizontalpodautoscaler"),
    Kind("Service", "v1", 0.04, "network", "service"),
    Kind("Ingress", "networking.k8s.io/v1", 0.02, "network", "ingress"),
    Kind("PersistentVolumeClaim", "v1", 0.05, "storage", "persistentvolumeclaim"),
    Kind("Node", "v1", 0.05, "node", "node", namespaced=False),
)
ALERT_CLASSES: tuple[str, ...] = ("pod", "workload", "network", "storage", "node")

APPS: tuple[str, ...] = (
    "api", "web", "worker", "gateway", "checkout-api", "cart-service", "order-processor",
    "payment-service", "auth-server", "token-issuer", "search-indexer", "catalog-api",
    "inventory-sync", "shipping-rates", "notification-sender", "email-relay", "sms-gateway",
    "recommender", "feature-store", "model-server", "etl-runner", "stream-consumer",
    "event-router", "redis-cache", "postgres", "kafka-broker", "zookeeper", "elasticsearch",
    "prometheus", "grafana", "alertmanager", "fluent-bit", "nginx-ingress", "envoy",
    "cert-renewer", "vault-agent", "argocd-server", "image-resizer", "report-builder",
    "billing-engine", "fraud-scorer", "profile-api", "session-store", "rate-limiter",
    "scheduler", "cron-runner", "backup-agent", "media-transcoder", "analytics-collector",
    "ledger",
)
NODE_REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1")

# -- alerts ---------------------------------------------------------------------------------------
# (name, class, summary). Zipf over this order; a trace draws among the alerts of its
# resource's class, so the Zipf skew holds within each class.
ALERTS: tuple[tuple[str, str, str], ...] = (
    ("KubePodCrashLooping", "pod", "Pod is crash looping"),
    ("KubeDeploymentReplicasMismatch", "workload", "Deployment replicas do not match the spec"),
    ("HighMemoryUsage", "pod", "Container memory usage is above 90% of its limit"),
    ("KubeNodeNotReady", "node", "Node is not ready"),
    ("KubePodNotReady", "pod", "Pod has been in a non-ready state for more than 15 minutes"),
    ("HTTPErrorRateHigh", "network", "HTTP 5xx error rate above 5%"),
    ("KubePersistentVolumeFillingUp", "storage", "PersistentVolume is filling up"),
    ("OOMKilled", "pod", "Container was OOM killed"),
    ("KubeHpaMaxedOut", "workload", "HPA is running at max replicas"),
    ("CPUThrottlingHigh", "pod", "Processes experience elevated CPU throttling"),
    ("KubeStatefulSetReplicasMismatch", "workload", "StatefulSet replicas do not match the spec"),
    ("NodeMemoryPressure", "node", "Node is under memory pressure"),
    ("HighLatencyP99", "network", "p99 request latency above the SLO"),
    ("KubeContainerWaiting", "pod", "Container has been waiting for more than 1 hour"),
    ("KubeDeploymentRolloutStuck", "workload", "Deployment rollout is not progressing"),
    ("NodeDiskPressure", "node", "Node is under disk pressure"),
    ("PVCPendingTooLong", "storage", "PersistentVolumeClaim is pending"),
    ("ImagePullBackOff", "pod", "Container image cannot be pulled"),
    ("KubeJobFailed", "workload", "Job failed to complete"),
    ("EndpointDown", "network", "Service has no ready endpoints"),
    ("HighCPUUsage", "pod", "Container CPU usage above 90% for 10 minutes"),
    ("KubeDaemonSetRolloutStuck", "workload", "DaemonSet rollout is stuck"),
    ("NodeFilesystemAlmostOutOfSpace", "node", "Filesystem has less than 5% space left"),
    ("KubePodPending", "pod", "Pod has been pending for more than 15 minutes"),
    ("CertificateExpiringSoon", "network", "TLS certificate expires in less than 7 days"),
    ("KubePersistentVolumeErrors", "storage", "PersistentVolume is in Failed or Pending phase"),
    ("ContainerRestartsHigh", "pod", "Container restarted more than 5 times in an hour"),
    ("KubeCronJobRunning", "workload", "CronJob is taking more than 1 hour to complete"),
    ("NodeNetworkReceiveErrs", "node", "Network interface is reporting receive errors"),
    ("IngressBackendErrors", "network", "Ingress backend returns errors"),
    ("LivenessProbeFailed", "pod", "Liveness probe failed repeatedly"),
    ("KubeHpaReplicasMismatch", "workload", "HPA has not matched the desired number of replicas"),
    ("DiskIOSaturation", "storage", "Disk IO utilisation above 90%"),
    ("NodeClockSkewDetected", "node", "Clock skew detected on node"),
    ("ReadinessProbeFailed", "pod", "Readiness probe failed repeatedly"),
    ("DNSResolutionFailures", "network", "DNS lookups are failing"),
    ("KubeStatefulSetUpdateNotRolledOut", "workload", "StatefulSet update has not been rolled out"),
    ("FileDescriptorsExhausted", "pod", "Process is close to its file descriptor limit"),
    ("NodeHighLoadAverage", "node", "Node load average above core count"),
    ("VolumeSnapshotFailed", "storage", "Volume snapshot failed"),
    ("ConnectionPoolExhausted", "pod", "Database connection pool exhausted"),
    ("KubeDeploymentGenerationMismatch", "workload", "Deployment generation mismatch (possible roll-back)"),
    ("ServiceLatencyDegraded", "network", "Service latency degraded compared to last week"),
    ("NodeKernelDeadlock", "node", "Kernel deadlock detected on node"),
    ("GoroutineLeak", "pod", "Number of goroutines keeps growing"),
    ("KubeJobNotCompleted", "workload", "Job did not complete in time"),
    ("PVCUsageCritical", "storage", "PVC usage above 95%"),
    ("JVMHeapUsageHigh", "pod", "JVM heap usage above 90%"),
    ("RateLimitExceeded", "network", "Upstream rate limit exceeded"),
    ("NodeConntrackLimit", "node", "Conntrack table almost full"),
    ("KubeContainerOOMRisk", "pod", "Container memory trending towards its limit"),
    ("KubeQuotaAlmostFull", "workload", "Namespace resource quota almost full"),
    ("TLSHandshakeErrors", "network", "TLS handshake errors increasing"),
    ("NodeUnschedulable", "node", "Node has been cordoned for more than 1 hour"),
    ("ErrorLogRateHigh", "pod", "Error log rate increased tenfold"),
    ("KubeDaemonSetMisScheduled", "workload", "DaemonSet pods are misscheduled"),
    ("StorageClassProvisioningSlow", "storage", "Volume provisioning takes longer than 5 minutes"),
    ("QueueBacklogGrowing", "pod", "Consumer backlog keeps growing"),
    ("LoadBalancerUnhealthy", "network", "Load balancer reports unhealthy targets"),
    ("NodeSwapUsageHigh", "node", "Node swap usage is high"),
)
ALERT_ZIPF_S = 1.0

# -- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    classes: tuple[str, ...]   # alert classes it remediates ("*" = any)
    median_seconds: float      # log-normal duration median
    failure_rate: float        # P(failed); P(rolled-back) = ROLLBACK_RATIO * failure_rate


ACTIONS: tuple[Action, ...] = (
    Action("restart_pod", ("pod",), 12, 0.08),
    Action("delete_pod", ("pod",), 5, 0.05),
    Action("increase_resources", ("pod", "workload"), 45, 0.10),
    Action("scale_deployment", ("workload", "network"), 30, 0.07),
    Action("rollback_deployment", ("workload", "pod"), 90, 0.12),
    Action("restart_deployment", ("workload", "network"), 60, 0.08),
    Action("update_hpa", ("workload",), 10, 0.04),
    Action("quarantine_pod", ("pod",), 8, 0.06),
    Action("collect_diagnostics", ("*",), 20, 0.03),
    Action("notify_only", ("*",), 1, 0.01),
    Action("drain_node", ("node",), 300, 0.18),
    Action("cordon_node", ("node",), 3, 0.03),
    Action("reboot_node", ("node",), 240, 0.15),
    Action("expand_pvc", ("storage",), 120, 0.14),
    Action("cleanup_storage", ("storage", "node"), 60, 0.09),
    Action("backup_data", ("storage",), 600, 0.11),
    Action("update_network_policy", ("network",), 15, 0.10),
    Action("restart_ingress_controller", ("network",), 40, 0.12),
    Action("rotate_certificate", ("network",), 25, 0.09),
    Action("migrate_workload", ("workload", "node"), 180, 0.16),
)
ROLLBACK_RATIO = 0.4
DURATION_SIGMA = 0.8
# An alert's remediation: its three preferred actions with these probabilities, the rest
# spread evenly over all actions (operators and the model sometimes pick something else).
ACTION_PREFERENCE = (0.55, 0.25, 0.12)

# -- statuses, severities, models ---------------------------------------------------------------
STATUSES: tuple[str, ...] = ("completed", "failed", "rolled-back", "pending", "executing")
# Unfinished work is recent: within RECENT_HOURS of the anchor these shares apply; older
# traces are stuck in pending/executing only rarely.
RECENT_HOURS = 48
UNFINISHED_RECENT = {"pending": 0.12, "executing": 0.08}
UNFINISHED_OLD = {"pending": 0.01, "executing": 0.005}

SEVERITY_MIXES: dict[str, dict[str, float]] = {
    "documented": {"critical": 0.15, "warning": 0.55, "info": 0.30},
    "tests": {"critical": 0.10, "high": 0.25, "medium": 0.40, "low": 0.25},
}

# (model, share, routing tier)
MODELS: tuple[tuple[str, float, str], ...] = (
    ("gpt-4", 0.35, "deep"),
    ("gpt-4o", 0.25, "standard"),
    ("claude-3-5-sonnet", 0.20, "standard"),
    ("llama-3.1-70b-instruct", 0.12, "fast"),
    ("granite-3.1-8b-instruct", 0.08, "fast"),
)
ROUTING_TIER_NULL_SHARE = 0.05
CONFIDENCE_BETA = (8.0, 2.0)
CONFIDENCE_MIN = 0.300

# Effectiveness: assessed for this share of finished traces; scores Beta by outcome.
ASSESSED_SHARE = 0.85
SCORE_BETA = {"completed": (8.0, 2.0), "failed": (1.5, 6.0), "rolled-back": (2.0, 5.0)}
ASSESSMENT_METHODS: tuple[tuple[str, float], ...] = (
    ("automated", 0.70), ("metric-based", 0.25), ("manual", 0.05))
CORRELATION_SHARE = 0.75

"""The text and JSONB content of traces, pre-encoded as COPY fields.

Realistic payloads of realistic size (labels ~200 B, annotations ~250 B, reasoning ~250 B,
parameters, resource states, Kubernetes operations, criteria, notes, errors), built once per
(alert, action, kind, variant) so that per row only an index is drawn. Labels and
annotations also name the row's resource, so they are assembled per row from a per-alert
prefix and a per-resource fragment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ctxbench.datagen import vocab
from ctxbench.datagen.pgbinary import jsonb_field, table, text_field

PARAM_VARIANTS = 8
STATE_VARIANTS = 16
REASONING_VARIANTS = 3
ERROR_VARIANTS = 3
OPS_VARIANTS = 2
SCORE_BUCKETS = 5

_SIZES = ["256Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi"]
_ZONES = ["us-east-1a", "us-east-1b", "eu-west-1a", "eu-west-1c"]

_PARAMS: dict[str, Callable[[int], dict[str, Any]]] = {
    "restart_pod": lambda v: {"grace_period_seconds": [0, 10, 30, 60][v % 4],
                              "reason": ["crash-loop", "stuck-terminating", "memory-leak"][v % 3]},
    "delete_pod": lambda v: {"grace_period_seconds": [0, 30][v % 2], "force": v % 3 == 0},
    "increase_resources": lambda v: {"container": "app", "memory_limit": _SIZES[1 + v % 5],
                                     "memory_request": _SIZES[v % 5],
                                     "cpu_limit": ["500m", "1", "2", "4"][v % 4]},
    "scale_deployment": lambda v: {"replicas": 3 + v, "previous_replicas": 2 + v // 2,
                                   "reason": "sustained load above target"},
    "rollback_deployment": lambda v: {"to_revision": 12 + v, "from_revision": 13 + v,
                                      "strategy": "RollingUpdate"},
    "restart_deployment": lambda v: {"strategy": "rollout-restart",
                                     "max_unavailable": ["0", "25%", "1"][v % 3]},
    "update_hpa": lambda v: {"min_replicas": 2 + v % 3, "max_replicas": 10 + 2 * v,
                             "target_cpu_utilization": [60, 70, 80][v % 3]},
    "quarantine_pod": lambda v: {"label": "kubernaut.io/quarantine=true",
                                 "network_isolation": v % 2 == 0, "keep_for_minutes": 60 * (1 + v % 4)},
    "collect_diagnostics": lambda v: {"include": ["logs", "events", "describe", "top"][: 1 + v % 4],
                                      "tail_lines": 500 * (1 + v % 4), "previous_container": v % 2 == 1},
    "notify_only": lambda v: {"channel": ["#oncall", "#sre-alerts", "pagerduty", "#platform"][v % 4],
                              "mention": ["@oncall", "@team-lead"][v % 2]},
    "drain_node": lambda v: {"ignore_daemonsets": True, "delete_emptydir_data": v % 2 == 0,
                             "timeout_seconds": 300 + 60 * v, "grace_period_seconds": 30},
    "cordon_node": lambda v: {"reason": ["hardware errors", "kernel deadlock", "disk pressure"][v % 3]},
    "reboot_node": lambda v: {"drain_first": True, "max_wait_seconds": 600 + 120 * (v % 3)},
    "expand_pvc": lambda v: {"new_size": f"{(v + 2) * 10}Gi", "old_size": f"{(v + 1) * 10}Gi",
                             "storage_class": ["gp3", "premium-rwo"][v % 2]},
    "cleanup_storage": lambda v: {"paths": ["/var/log", "/tmp", "/var/lib/app/cache"][: 1 + v % 3],
                                  "older_than_days": 7 + v},
    "backup_data": lambda v: {"destination": f"s3://kubernaut-backups/snapshots/{v:02d}",
                              "compression": ["zstd", "gzip"][v % 2], "verify": True},
    "update_network_policy": lambda v: {"policy": ["allow-monitoring", "allow-egress-dns",
                                                   "deny-all-ingress"][v % 3],
                                        "operation": ["add-rule", "remove-rule"][v % 2]},
    "restart_ingress_controller": lambda v: {"controller": "ingress-nginx", "rolling": True,
                                             "replicas": 2 + v % 3},
    "rotate_certificate": lambda v: {"issuer": ["letsencrypt-prod", "internal-ca"][v % 2],
                                     "secret": f"tls-cert-{v}", "renew_before_days": 30},
    "migrate_workload": lambda v: {"target_zone": _ZONES[v % 4], "strategy": "drain-and-reschedule",
                                   "max_parallel": 1 + v % 3},
}

_OPS: dict[str, tuple[str, str]] = {
    "restart_pod": ("delete", "pods"), "delete_pod": ("delete", "pods"),
    "increase_resources": ("patch", "deployments"), "scale_deployment": ("patch", "deployments/scale"),
    "rollback_deployment": ("patch", "deployments"), "restart_deployment": ("patch", "deployments"),
    "update_hpa": ("patch", "horizontalpodautoscalers"), "quarantine_pod": ("patch", "pods"),
    "collect_diagnostics": ("get", "pods/log"), "notify_only": ("create", "events"),
    "drain_node": ("create", "pods/eviction"), "cordon_node": ("patch", "nodes"),
    "reboot_node": ("create", "nodes/proxy"), "expand_pvc": ("patch", "persistentvolumeclaims"),
    "cleanup_storage": ("create", "jobs"), "backup_data": ("create", "volumesnapshots"),
    "update_network_policy": ("patch", "networkpolicies"),
    "restart_ingress_controller": ("patch", "deployments"),
    "rotate_certificate": ("patch", "certificates"), "migrate_workload": ("create", "pods/eviction"),
}

_EVIDENCE = (
    "error rate and restarts rose together over the last 15 minutes",
    "the previous remediation of this resource succeeded with the same action",
    "metrics show saturation while upstream dependencies are healthy",
)

_ERRORS = (
    "timeout waiting for the operation to complete after {t}s: context deadline exceeded",
    "admission webhook \"validate.kyverno.svc\" denied the request: policy require-limits",
    "{verb} {res}: the server rejected our request due to a conflict; please retry",
)


def alert_actions() -> np.ndarray:
    """Each alert's three preferred actions (indexes into ACTIONS), fixed for all datasets.

    Chosen among the actions that remediate the alert's class, rotating by alert so that
    alerts of one class do not all share one action.
    """
    out = np.empty((len(vocab.ALERTS), 3), dtype=np.int64)
    for a, (_, cls, _) in enumerate(vocab.ALERTS):
        fit = [i for i, act in enumerate(vocab.ACTIONS) if cls in act.classes]
        generic = [i for i, act in enumerate(vocab.ACTIONS) if "*" in act.classes]
        first, second = fit[a % len(fit)], fit[(a + 1) % len(fit)]
        if second == first:
            second = generic[a % len(generic)]
        third = generic[(a // 2) % len(generic)]
        out[a] = (first, second, third)
    return out


def _kind_state(kind: vocab.Kind, v: int, after: bool) -> dict[str, Any]:
    cls = kind.alert_class
    if cls == "pod":
        if after:
            return {"phase": "Running", "ready": True, "restart_count": 0,
                    "memory_usage": _SIZES[v % 4], "cpu_usage": f"{100 + 25 * v}m"}
        return {"phase": ["CrashLoopBackOff", "Running", "Pending", "Running"][v % 4],
                "ready": False, "restart_count": 3 + 2 * v, "memory_usage": _SIZES[1 + v % 5],
                "cpu_usage": f"{400 + 50 * v}m", "last_termination_reason":
                    ["OOMKilled", "Error", "Completed", "ContainerCannotRun"][v % 4]}
    if cls == "workload":
        want = 2 + v % 6
        ready = want if after else max(0, want - 1 - v % 3)
        return {"replicas": want, "ready_replicas": ready, "updated_replicas": ready,
                "available": after or ready > 0, "observed_generation": 40 + v}
    if cls == "node":
        return {"conditions": {"Ready": "True" if after else ["False", "Unknown"][v % 2],
                               "MemoryPressure": "False" if after else ["True", "False"][v % 2],
                               "DiskPressure": "False" if after or v % 3 else "True"},
                "allocatable_memory": f"{16 * (1 + v % 4)}Gi", "pods": 20 + v,
                "unschedulable": not after and v % 4 == 0}
    if cls == "storage":
        cap = 10 * (2 + v % 6)
        used = cap * (0.5 if after else 0.93) + v % 3
        return {"phase": "Bound", "capacity": f"{cap}Gi", "used": f"{used:.1f}Gi",
                "access_modes": ["ReadWriteOnce"]}
    return {"endpoints_ready": 3 if after else v % 3, "endpoints_total": 3,
            "error_rate": 0.001 if after else round(0.02 + 0.01 * v, 3),
            "p99_latency_ms": 120 if after else 800 + 100 * v}


def _bucket_note(bucket: int, status: str) -> str:
    quality = ["did not help", "helped briefly", "partially resolved the issue",
               "resolved the issue", "resolved the issue quickly"][bucket]
    return (f"Action {status}; {quality}. Alert state and key metrics were compared over a "
            "10-minute window before and after execution.")


class Content:
    """Pre-encoded field tables, indexed by small integers drawn per row."""

    def __init__(self, severities: tuple[str, ...]) -> None:
        n_act, n_alert = len(vocab.ACTIONS), len(vocab.ALERTS)
        self.preferred = alert_actions()
        self.alert_name = table(text_field(a[0]) for a in vocab.ALERTS)
        self.severity = table(text_field(s) for s in severities)
        self.action_type = table(text_field(a.name) for a in vocab.ACTIONS)
        self.status = table(text_field(s) for s in vocab.STATUSES)
        self.model = table(text_field(m[0]) for m in vocab.MODELS)
        tiers = sorted({m[2] for m in vocab.MODELS})
        self.tier_of_model = np.array([tiers.index(m[2]) for m in vocab.MODELS])
        self.tier = table([*(text_field(t) for t in tiers), text_field(None)])
        self.tier_null = len(tiers)
        self.method = table(text_field(m) for m, _ in vocab.ASSESSMENT_METHODS)
        self.cluster = table([*(text_field(c) for c, _ in vocab.CLUSTERS), text_field(None)])
        self.environment = table([*(text_field(e) for e in vocab.ENVIRONMENTS), text_field(None)])
        self.params = table(jsonb_field(_PARAMS[a.name](v))
                            for a in vocab.ACTIONS for v in range(PARAM_VARIANTS))
        self.ops = table(jsonb_field(self._ops(a.name, v))
                         for a in vocab.ACTIONS for v in range(OPS_VARIANTS))
        self.state_before = table(jsonb_field(_kind_state(k, v, False))
                                  for k in vocab.KINDS for v in range(STATE_VARIANTS))
        self.state_after = table(jsonb_field(_kind_state(k, v, True))
                                 for k in vocab.KINDS for v in range(STATE_VARIANTS))
        self.reasoning = table(text_field(self._reasoning(a, t, v))
                               for a in range(n_alert) for t in range(n_act)
                               for v in range(REASONING_VARIANTS))
        self.alternatives = table(jsonb_field(self._alternatives(a, t))
                                  for a in range(n_alert) for t in range(n_act))
        self.errors = table(text_field(self._error(act, v))
                            for act in vocab.ACTIONS for v in range(ERROR_VARIANTS))
        self.follow_ups = table(jsonb_field(self._follow_up(act)) for act in vocab.ACTIONS)
        self.criteria = table(jsonb_field(self._criteria(b)) for b in range(SCORE_BUCKETS))
        self.notes = table(text_field(_bucket_note(b, s))
                           for s in vocab.STATUSES[:3] for b in range(SCORE_BUCKETS))
        sev = [s.encode() for s in severities]
        self.label_prefix = table(
            b'\x01{"alertname": "' + a[0].encode() + b'", "severity": "' + s + b'", '
            for a in vocab.ALERTS for s in sev)
        self.label_prefix_len = np.array([len(x) for x in self.label_prefix], dtype=np.int64)
        self.annotation_prefix = table(
            b'\x01{"summary": "' + summary.encode() + b'", "runbook_url": '
            b'"https://runbooks.kubernaut.example/alerts/' + name.encode()
            + b'", "description": "' for name, _, summary in vocab.ALERTS)
        self.annotation_suffix = table(
            b" - " + summary.lower().encode() + b'; see the runbook for dashboards."}'
            for _, _, summary in vocab.ALERTS)
        self.annotation_fix_len = np.array(
            [len(p) + len(s) for p, s in zip(self.annotation_prefix, self.annotation_suffix,
                                             strict=True)], dtype=np.int64)

    @staticmethod
    def _ops(action: str, v: int) -> list[dict[str, Any]]:
        verb, resource = _OPS[action]
        ops = [{"verb": verb, "resource": resource, "dry_run": False, "result": "success"}]
        if v:
            ops.insert(0, {"verb": "get", "resource": resource.split("/")[0], "dry_run": False,
                           "result": "success"})
        return ops

    def _reasoning(self, alert: int, action: int, v: int) -> str:
        name, _, summary = vocab.ALERTS[alert]
        act = vocab.ACTIONS[action].name
        return (f"{name}: {summary}. Evidence: {_EVIDENCE[v]}. Selected {act} because it "
                f"addresses the most likely root cause with the lowest blast radius; "
                f"expected recovery within {int(vocab.ACTIONS[action].median_seconds * 2)}s.")

    def _alternatives(self, alert: int, action: int) -> list[dict[str, Any]]:
        others = [int(t) for t in self.preferred[alert] if t != action][:2]
        return [{"action": vocab.ACTIONS[t].name, "confidence": round(0.6 - 0.15 * i, 2),
                 "rejected_because": ["higher blast radius", "lower historical success"][i]}
                for i, t in enumerate(others)]

    @staticmethod
    def _error(action: vocab.Action, v: int) -> str:
        verb, res = _OPS[action.name]
        return _ERRORS[v].format(t=int(action.median_seconds * 10), verb=verb, res=res)

    @staticmethod
    def _follow_up(action: vocab.Action) -> list[dict[str, Any]]:
        return [{"action": "collect_diagnostics", "reason": f"{action.name} did not succeed",
                 "priority": "high"},
                {"action": "notify_only", "reason": "escalate to the owning team",
                 "priority": "medium"}]

    @staticmethod
    def _criteria(bucket: int) -> dict[str, Any]:
        return {"alert_resolved": bucket >= 3, "metrics_improved": bucket >= 2,
                "side_effects_detected": bucket == 0, "evaluation_window_minutes": 10,
                "signals": ["alert_state", "error_rate", "restarts"][: 1 + bucket % 3]}

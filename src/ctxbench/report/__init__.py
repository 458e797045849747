"""Reports rendered from a results folder: summary.json, latencies.csv, report.md,
report.html (with plots), junit.xml. Entry point: ``ctxbench.report.build.build_reports``."""

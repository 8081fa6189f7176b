"""What an operator runs the service with: probes, Prometheus metrics and OpenTelemetry traces.

It names no other app in an import: the models it counts or reads are looked up by name
(``"deployments.Deployment"``, ``apps.get_model("webhooks", "WebhookDelivery")``), so the
apps' own code stays free to change. docs/operations.md is the operator's side of it.
"""

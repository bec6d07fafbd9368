"""Delivery of vendor events: event log, SSE fan-out, webhooks."""

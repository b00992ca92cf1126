"""Sports webhooks: signed, durable webhooks for ESPN game events (companion of HA Ingestor)."""

__version__ = "1.0.0"

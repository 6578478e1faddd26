"""parity: local-first dev/prod parity for the HuskIT services on ECS Fargate."""

__version__ = "0.1.0"

"""HuskIT reference crawler service."""

"""Pydantic v2 models: the filing event (models.filing_event, schema v1) and reference entities."""

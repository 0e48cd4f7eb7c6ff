"""Pydantic v2 models: the filing event (schema version 1) and reference entities."""

from models.filing_event import Channel, EventType, FilingEvent

__all__ = ["Channel", "EventType", "FilingEvent"]

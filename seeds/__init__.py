"""Reference data shipped with dvcpulse (see seeds/data/SOURCES.md) and the calibrated simulator."""

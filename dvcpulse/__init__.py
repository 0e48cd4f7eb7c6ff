"""dvcpulse: near-real-time counts and online rates of Vietnam's public-service filings.

Kafka (filing events) -> a Faust agent (validate, deduplicate, aggregate) -> ClickHouse -> Grafana.
"""

__version__ = "0.1.0"

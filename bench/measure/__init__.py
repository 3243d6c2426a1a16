"""Measurement: accuracy (evaluate), efficiency (params, MACs, speed, memory), statistics, distributed sharding, environment provenance."""

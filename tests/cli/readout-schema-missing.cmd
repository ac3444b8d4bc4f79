readout ../golden/map-columns/policy.kai ../golden/map-columns/events.csv --schema=../golden/map-columns/no-such.yaml --format csv

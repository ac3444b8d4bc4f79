simulate ../golden/map-columns/policy.kai ../golden/map-columns/events.csv --map customer

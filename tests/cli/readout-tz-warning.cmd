readout ../golden/tz-unknown-warning/policy.kai ../golden/tz-unknown-warning/events.csv --format csv

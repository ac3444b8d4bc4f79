explain simulate/every1s.kai simulate/three-customers.csv --customer a --from 2026-02-01T00:00:00Z --until 2026-01-01T00:00:00Z

simulate simulate/every1s.kai simulate/three-customers.csv --map time=time --map customer=customer --until 2026-01-01T00:00:03Z

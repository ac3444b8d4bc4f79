explain explain/render.kai explain/render.csv --customer c1 --until 2026-03-20T00:00:00Z

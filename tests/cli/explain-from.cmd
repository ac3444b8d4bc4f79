explain explain/first.kai explain/first.csv --customer c2 --from 2026-03-05T00:00:00Z --format jsonl

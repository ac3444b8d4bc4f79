explain explain/values.kai explain/values.csv --customer c1 --format jsonl --rule r1

simulate explain/far.kai explain/far.csv --stats --no-progress

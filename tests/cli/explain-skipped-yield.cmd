explain explain/skipped.kai explain/skipped.csv --customer c4

explain explain/far.kai explain/far.csv --customer c1

explain explain/first.kai explain/first.csv --customer ''

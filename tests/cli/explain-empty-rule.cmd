explain explain/first.kai explain/first.csv --customer c2 --rule ''

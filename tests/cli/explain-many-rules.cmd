explain explain/manyrules.kai explain/manyrules.csv --customer c1

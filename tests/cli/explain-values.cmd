explain explain/values.kai explain/values.csv --customer c1

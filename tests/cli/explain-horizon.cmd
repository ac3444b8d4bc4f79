explain explain/horizon.kai explain/horizon.csv --customer c1

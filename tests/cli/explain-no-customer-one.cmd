explain explain/no-time.kai explain/no-time.csv --customer zzzzzzzzz

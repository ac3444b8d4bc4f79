explain explain/keepmany.kai explain/keepmany.csv --customer c1

explain explain/moves.kai explain/moves.csv --customer c1

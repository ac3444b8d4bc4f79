simulate p.kai e.csv --shard 1/2000000

simulate p.kai e.csv --shard 4/4

simulate simulate/trigger-unseen.kai simulate/trigger-typo.csv --no-progress --shard 0/2

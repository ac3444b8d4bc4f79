simulate --no-progress ../golden/shard-horizon/policy.kai - --shard 1/2 < ../golden/shard-horizon/events.csv

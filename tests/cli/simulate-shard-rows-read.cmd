simulate ../../examples/ab-timing/policy.kai ../../examples/ab-timing/events.csv --stats --shard 0/2 -o /dev/null

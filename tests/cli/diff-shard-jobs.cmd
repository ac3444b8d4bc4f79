diff report/old.kai report/new.kai report/events.csv --format csv --shard 0/2 --jobs 2 --memory 16M

diff report/old.kai report/new.kai report/events.csv --format csv --jobs 0

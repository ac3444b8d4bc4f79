diff report/old.kai report/new.kai report/events.csv --format csv --stamp

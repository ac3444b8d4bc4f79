diff report/old.kai report/old.kai report/events.csv --format csv --fail-if-changed

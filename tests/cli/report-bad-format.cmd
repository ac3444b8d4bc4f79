report report/old.kai report/events.csv --format csv

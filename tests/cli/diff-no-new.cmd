diff report/old.kai report/events.csv

report report/old.kai report/events.csv --jobs 65

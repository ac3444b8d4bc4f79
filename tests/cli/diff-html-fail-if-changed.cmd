diff report/old.kai report/new.kai report/events.csv --format html --fail-if-changed -o /dev/null

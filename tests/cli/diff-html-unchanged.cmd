diff report/old.kai report/old.kai report/events.csv --format html --fail-if-changed -o /dev/null

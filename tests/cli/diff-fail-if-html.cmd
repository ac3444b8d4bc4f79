diff report/old.kai report/old.kai report/events.csv --format html -o /dev/null --fail-if 'moved.sends >= 0' --fail-if 'changed == 1'

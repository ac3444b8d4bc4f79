diff report/old.kai report/new.kai report/events.csv --format json --fail-if 'pressure.max > 2' --fail-if=moved.sends!=2

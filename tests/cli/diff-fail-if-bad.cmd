diff report/old.kai report/new.kai report/events.csv --fail-if 'pressure.max ~ 2'

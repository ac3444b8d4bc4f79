diff report/old.kai report/new.kai report/events.csv --fail-if 'pressure.most > 2'

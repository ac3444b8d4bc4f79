diff report/old.kai report/new.kai no-such-events.csv --fail-if 'pressure.most > 2'

diff report/old.kai report/new.kai report/events.csv --fail-if 'rows.added > 0x10'

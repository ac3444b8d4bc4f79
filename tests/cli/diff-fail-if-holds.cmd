diff report/old.kai report/new.kai report/events.csv --format csv --fail-if 'pressure.max > 1' --fail-if 'rows.added >= 1' --fail-if 'gaining.customers > 0'

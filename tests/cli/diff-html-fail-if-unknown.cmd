diff report/old.kai report/new.kai report/events.csv --format html --fail-if 'nosuch > 1'

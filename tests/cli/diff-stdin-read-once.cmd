diff report/old.kai report/new.kai - --format csv < report/events.csv

readout report/old.kai report/events.csv --memory 8M

simulate simulate/trigger-unseen.kai simulate/trigger-empty.csv --no-progress

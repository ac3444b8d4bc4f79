simulate simulate/trigger-long.kai simulate/trigger-long.csv --no-progress

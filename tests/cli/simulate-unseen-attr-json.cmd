simulate simulate/unseen.kai simulate/unseen.csv --stats-format json --no-progress

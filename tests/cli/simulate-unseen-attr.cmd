simulate simulate/unseen.kai simulate/unseen.csv --stats --no-progress

simulate simulate/trigger-unseen.kai simulate/trigger-typo.csv --no-progress --stats

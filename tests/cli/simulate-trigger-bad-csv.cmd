simulate simulate/trigger-unseen.kai simulate/trigger-bad.csv --no-progress --skip-bad-rows

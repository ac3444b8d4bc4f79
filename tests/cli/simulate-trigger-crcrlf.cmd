simulate simulate/trigger-unseen.kai simulate/trigger-crcr.csv --no-progress

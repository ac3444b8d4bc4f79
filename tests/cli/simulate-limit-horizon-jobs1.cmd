simulate simulate/every1s.kai simulate/year.csv --jobs 1 --no-progress

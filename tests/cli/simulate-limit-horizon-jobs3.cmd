simulate simulate/every1s.kai simulate/year.csv --jobs 3 --no-progress

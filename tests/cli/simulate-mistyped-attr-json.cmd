simulate simulate/mistyped.kai simulate/mistyped.csv --jobs 1 --stats-format json --no-progress

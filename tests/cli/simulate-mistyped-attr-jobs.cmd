simulate simulate/mistyped.kai simulate/mistyped.csv --jobs 4 --no-progress

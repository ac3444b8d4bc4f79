simulate simulate/mistyped.kai simulate/mistyped.csv --stats --no-progress

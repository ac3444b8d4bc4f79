simulate simulate/every1s.kai simulate/three-customers.csv --until 9999-12-31T23:59:59Z --jobs 4 --no-progress

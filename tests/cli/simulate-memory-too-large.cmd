simulate simulate/every1s.kai simulate/three-customers.csv --memory 99999999999G

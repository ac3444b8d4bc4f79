simulate simulate/every1s.kai simulate/three-customers.csv --jobs ' 4'

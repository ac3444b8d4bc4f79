simulate simulate/every1s.kai simulate/three-customers.csv -o ''

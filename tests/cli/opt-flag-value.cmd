simulate simulate/every1s.kai simulate/three-customers.csv --skip-bad-rows=no

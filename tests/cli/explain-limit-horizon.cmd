explain simulate/every1s.kai simulate/year.csv --customer c1

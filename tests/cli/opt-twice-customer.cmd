explain simulate/every1s.kai simulate/three-customers.csv --customer a --customer b

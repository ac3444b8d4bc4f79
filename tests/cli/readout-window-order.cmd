readout simulate/every1s.kai simulate/three-customers.csv --window 1d1d

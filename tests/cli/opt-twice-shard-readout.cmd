readout simulate/every1s.kai simulate/three-customers.csv --shard 0/2 --shard 1/2

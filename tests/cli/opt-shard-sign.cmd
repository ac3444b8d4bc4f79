diff simulate/every1s.kai simulate/every1s.kai simulate/three-customers.csv --shard '0/+2'
